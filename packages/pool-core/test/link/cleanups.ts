/**
 * What a link test leaves to undo (servers, runners, sockets), undone after each test, last
 * first. Real timers come back before anything else, even when a test that faked them failed
 * before its end: the cleanups and the next test run on real time.
 */
import { afterEach, vi } from "vitest";

export const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
