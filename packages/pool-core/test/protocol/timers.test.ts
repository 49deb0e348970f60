/**
 * Durations past setTimeout's 2^31−1 ms limit: Node fires such a timer after 1 ms, so a
 * 30-day timeout used to fire (or spin) at once. Fake timers reproduce Node's overflow rule.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { realClock } from "../../src/options/index.js";
import { MAX_TIMER_MS, setLongTimeout } from "../../src/protocol/timers.js";

const DAY_MS = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("long timeouts", () => {
  it("setLongTimeout fires a 30-day timer after 30 days, not at once, re-arming at most a few times", () => {
    const fired = vi.fn();
    setLongTimeout(fired, 30 * DAY_MS);
    vi.advanceTimersByTime(10_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY_MS - MAX_TIMER_MS - 10_001);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("setLongTimeout can be cleared while re-arming, and never fires for Infinity", () => {
    const fired = vi.fn();
    const timer = setLongTimeout(fired, 40 * DAY_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    timer.clear();
    vi.advanceTimersByTime(40 * DAY_MS);
    expect(fired).not.toHaveBeenCalled();
    setLongTimeout(fired, Number.POSITIVE_INFINITY);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("the host's real clock arms a 30-day deadline for 30 days (the pool's one timer)", () => {
    const fired = vi.fn();
    const handle = realClock.setTimer(realClock.nowMs() + 30 * DAY_MS, fired);
    vi.advanceTimersByTime(60_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY_MS);
    expect(fired).toHaveBeenCalledTimes(1);
    realClock.clearTimer(handle);
    const cleared = vi.fn();
    realClock.clearTimer(realClock.setTimer(realClock.nowMs() + 10, cleared));
    vi.advanceTimersByTime(100);
    expect(cleared).not.toHaveBeenCalled();
  });
});
