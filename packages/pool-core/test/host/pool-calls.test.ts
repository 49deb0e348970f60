/**
 * The Pool host on virtual time against an in-memory link and backend: no processes, no
 * sockets, no real timers. Each test drives time with `clock.advance` and asserts what a
 * user would see (results, error codes, events, snapshots). Here: calls, casts and children.
 */
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { ControlledCalls, flush } from "./fakes.js";
import { echo, outcome, stopOnVirtualTime, useVirtualPools } from "./virtual-pool.js";

const setup = useVirtualPools("echo");

describe("calls", () => {
  it("a cold call boots a runner, runs, and the pool reports it", async () => {
    const { pool, clock, events } = setup();
    const result = outcome(pool.call(echo, { a: 1 }));
    await clock.advance(100);
    expect(result.current).toEqual({ a: 1 });
    const types = events.map((e) => e.type);
    expect(types).toEqual(["growStart", "runnerUp", "growEnd", "checkoutWaited", "callFinished"]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const finished = events.at(-1);
    expect(finished).toMatchObject({ type: "callFinished", kind: "call", fn: echo.id, ok: true });
    expect(pool.snapshot().runners[0]).toMatchObject({ inflight: 0, callsServed: 1 });
  });

  it("a call granted at once still reports its wait (0 ms), so wait-time metrics are not skewed", async () => {
    const { pool, clock, events } = setup();
    const cold = outcome(pool.call(echo, 1));
    await clock.advance(100);
    expect(cold.current).toBe(1);
    const warm = outcome(pool.call(echo, 2));
    await clock.advance(10);
    expect(warm.current).toBe(2);
    const waits = events.filter((e) => e.type === "checkoutWaited");
    expect(waits).toHaveLength(2);
    expect(waits[1]).toMatchObject({ waitedMs: 0 });
  });

  it("warm calls with a timeout set the pool's timer a few times in all, not once per call", async () => {
    const { pool, clock } = setup({ max: 1, timeout: 30_000 });
    const cold = outcome(pool.call(echo, 0));
    await clock.advance(100);
    expect(cold.current).toBe(0);
    const before = clock.timersSet;
    for (let i = 1; i <= 200; i += 1) {
      const warm = outcome(pool.call(echo, i));
      await clock.advance(1);
      expect(warm.current).toBe(i);
    }
    // Each call's deadline came and went after the earliest armed one: re-armed eagerly, this
    // set a real timer per call (200 here; issue 23).
    expect(clock.timersSet - before).toBeLessThan(10);
  });

  it("warm: timeout spans queue + run (waiting behind a busy runner at max)", async () => {
    const { pool, world, clock } = setup({
      max: 1,
      maxConcurrency: 1,
      timeout: 1_000,
      prefetch: false,
    });
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const first = outcome(pool.call(echo, 1, { timeout: 60_000 }));
    await clock.advance(100);
    const second = outcome(pool.call(echo, 2));
    await clock.advance(600);
    calls.pending[0]?.resolve("first");
    await flush();
    expect(first.current).toBe("first");
    // The second call waited 600 ms: its run deadline is what is left of its 1,000 ms.
    expect(calls.pending[1]?.opts.timeoutMs).toBe(400);
    calls.pending[1]?.resolve("second");
    await flush();
    expect(second.current).toBe("second");
  });

  it("warm: a caller queued behind busy runners times out at its timeout", async () => {
    const { pool, world, clock, events } = setup({
      max: 1,
      maxConcurrency: 1,
      timeout: 1_000,
      prefetch: false,
    });
    world.handler = new ControlledCalls().handler;
    outcome(pool.call(echo, 1, { timeout: 60_000 }));
    await clock.advance(100);
    const second = outcome(pool.call(echo, 2));
    await clock.advance(999);
    expect(second.current).toBeUndefined();
    await clock.advance(1);
    expect(second.current).toBe("TIMEOUT");
    expect(events.some((e) => e.type === "checkoutTimeout")).toBe(true);
    expect(events.filter((e) => e.type === "callFinished")).toMatchObject([
      { kind: "call", ok: false, errorCode: "TIMEOUT", runnerId: null },
    ]);
    expect(pool.snapshot().waiting).toBe(0);
  });

  it("cold: a short timeout still gets its runner (bounded by bootTimeout) and a full run", async () => {
    const { pool, world, clock } = setup({ timeout: 200, bootTimeout: 5_000 });
    world.bootMs = 3_000;
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const result = outcome(pool.call(echo, 1));
    await clock.advance(3_000);
    expect(calls.pending).toHaveLength(1);
    expect(calls.pending[0]?.opts.timeoutMs).toBe(200);
    calls.pending[0]?.resolve("ok");
    await flush();
    expect(result.current).toBe("ok");
  });

  it("cold: the wait is bounded by max(timeout, bootTimeout)", async () => {
    const { pool, world, clock } = setup({ timeout: 200, bootTimeout: 5_000 });
    world.hangNext = 5;
    const result = outcome(pool.call(echo, 1));
    await clock.advance(4_999);
    expect(result.current).toBeUndefined();
    await clock.advance(1);
    expect(result.current).toBe("TIMEOUT");
  });

  it("a runner that dies mid-call fails its callers with RUNNER_DOWN at once; the next call works", async () => {
    const { pool, world, clock, events } = setup({ max: 1 });
    world.handler = new ControlledCalls().handler;
    const doomed = outcome(pool.call(echo, 1));
    await clock.advance(100);
    world.runners[0]?.crash("segfault", 139);
    await flush();
    expect(doomed.current).toBe("RUNNER_DOWN");
    expect(events.find((e) => e.type === "runnerDown")).toMatchObject({ exitCode: 139 });
    world.handler = async (_fn, args) => args;
    const next = outcome(pool.call(echo, "again"));
    await clock.advance(100);
    expect(next.current).toBe("again");
  });

  it("an abort while waiting rejects ABORTED and frees the queue", async () => {
    const { pool, clock } = setup();
    const controller = new AbortController();
    const result = outcome(pool.call(echo, 1, { signal: controller.signal }));
    await flush();
    controller.abort();
    await flush();
    expect(result.current).toBe("ABORTED");
    await clock.advance(100);
    expect(pool.snapshot()).toMatchObject({ waiting: 0 });
    expect(pool.snapshot().runners[0]?.inflight).toBe(0);
  });

  it("cast never throws to the caller; its failure is reported as callFinished ok:false", async () => {
    const { pool, world, clock, events } = setup();
    world.handler = async () => {
      throw new FlameError("REMOTE_ERROR", "boom");
    };
    expect(() => pool.cast(echo, 1)).not.toThrow();
    await clock.advance(100);
    expect(events.find((e) => e.type === "callFinished")).toMatchObject({
      kind: "cast",
      ok: false,
      errorCode: "REMOTE_ERROR",
    });
    await stopOnVirtualTime(pool, clock);
    pool.cast(echo, 2);
    await flush();
    expect(events.filter((e) => e.type === "callFinished").at(-1)).toMatchObject({
      kind: "cast",
      ok: false,
      errorCode: "POOL_STOPPED",
      runnerId: null,
    });
  });

  it("placeChild holds a slot until the child ends; stop() ends it", async () => {
    const { pool, world, clock } = setup({ max: 1, maxConcurrency: 1 });
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const placing = pool.placeChild(echo, "child");
    await clock.advance(100);
    const child = await placing;
    expect(pool.snapshot().runners[0]?.inflight).toBe(1);
    await child.stop();
    await expect(child.result).rejects.toMatchObject({ code: "ABORTED" });
    expect(pool.snapshot().runners[0]?.inflight).toBe(0);
  });
});
