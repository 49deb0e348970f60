/**
 * The raw peer with a link per thread (the floor of a runner whose main thread is on no call's
 * path): every thread must dial and answer its own link, and calls must spread over the links,
 * or the bench's "link per thread" rows would time one thread, or nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { WorkStamp } from "../fixtures/stamped-work.mjs";
import { RawEchoServer, type RawPeer } from "../src/raw-echo.js";

/** Long enough that two calls sent at once are both in flight, each on its own link. */
const ITERATIONS = 2_000_000;

describe("raw peer, a link per thread", () => {
  let server: RawEchoServer | undefined;
  let peer: RawPeer | undefined;

  afterEach(async () => {
    await peer?.close();
    await server?.close();
    peer = undefined;
    server = undefined;
  });

  it("answers calls in flight together on different threads, one link each", async () => {
    server = await RawEchoServer.listen();
    peer = await server.spawnPeer({ threads: 2, linkPerThread: true });
    const runner = peer;
    expect(runner.links).toBe(2);
    const stamps = (await Promise.all(
      Array.from({ length: 4 }, () => runner.call("cpuWork", { iterations: ITERATIONS })),
    )) as WorkStamp[];
    const threads = new Set(stamps.map((stamp) => stamp.thread));
    expect(threads.size).toBe(2);
    // The peer's own main thread ran none of them: each link is served by a worker thread.
    expect(threads.has(`${runner.pid}/0`)).toBe(false);
    expect(await runner.call("echo", { n: 1 })).toEqual({ n: 1 });
  });

  it("refuses a link per thread without threads, naming the option", async () => {
    server = await RawEchoServer.listen();
    await expect(server.spawnPeer({ threads: 0, linkPerThread: true })).rejects.toThrow(
      /linkPerThread needs threads ≥ 1/,
    );
  });
});
