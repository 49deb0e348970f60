/**
 * Issue 14's rules through the Pool host on virtual time (no processes, no sockets, no
 * sleeps): what a user sees for maxWaiting, buffer, budget, drain, a bounded stop, and boot
 * failures surfaced.
 */
import { describe, expect, it } from "vitest";
import { FlameError, isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { Pool } from "../../src/host/pool.js";
import type { PoolOptions } from "../../src/options/index.js";
import { FakeWorld, flush, VirtualClock } from "./fakes.js";
import { useVirtualPools } from "./virtual-pool.js";

const echo = defineFunction("host-rules.echo", (input: unknown) => input);

const setup = useVirtualPools();

function outcome<T>(promise: Promise<T>): { current: T | string | undefined; error?: FlameError } {
  const box: { current: T | string | undefined; error?: FlameError } = { current: undefined };
  promise.then(
    (v) => {
      box.current = v;
    },
    (e: unknown) => {
      box.current = isFlameError(e) ? e.code : `non-flame: ${String(e)}`;
      if (isFlameError(e)) box.error = e;
    },
  );
  return box;
}

/** Whether a void promise has resolved (an `outcome` box cannot tell void from pending). */
function settled(promise: Promise<void>): { done: boolean } {
  const box = { done: false };
  void promise.then(() => {
    box.done = true;
  });
  return box;
}

describe("options", () => {
  it.each([
    ["maxWaiting", { maxWaiting: -1 }],
    ["buffer", { buffer: 3 }],
    ["budget", { budget: 5 }],
    ["budget.runnerMs", { budget: { runnerMs: 0, windowMs: 1 } }],
    ["budget.windowMs", { budget: { runnerMs: 1 } }],
  ])("rejects a bad %s with INVALID_OPTIONS naming it", (field, bad) => {
    const world = new FakeWorld(new VirtualClock());
    const options = { name: "t", max: 2, backend: world, ...bad } as unknown as PoolOptions;
    expect(() => new Pool(options, { listen: world.listen, env: {} })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field }),
    );
  });

  it("snapshot shows maxWaiting (default 10,000), buffer, budget and draining", () => {
    const { pool } = setup();
    expect(pool.snapshot()).toMatchObject({
      maxWaiting: 10_000,
      buffer: 0,
      budget: null,
      draining: false,
    });
  });
});

describe("maxWaiting", () => {
  it("one caller past maxWaiting fails OVERLOADED at once, and an overloaded event says so", async () => {
    const { pool, events } = setup({ max: 1, maxWaiting: 2 });
    const waiting = [outcome(pool.call(echo, 1)), outcome(pool.call(echo, 2))];
    const third = outcome(pool.call(echo, 3));
    await flush();
    expect(third.current).toBe("OVERLOADED");
    expect(third.error?.message).toMatch(/maxWaiting 2/);
    expect(waiting.map((w) => w.current)).toEqual([undefined, undefined]);
    expect(events.filter((e) => e.type === "overloaded")).toMatchObject([
      { type: "overloaded", waiting: 2, maxWaiting: 2 },
    ]);
  });
});

describe("buffer", () => {
  it("keeps idle runners ready beyond demand and boots another when a caller takes one", async () => {
    const { pool, clock, calls } = setup({ max: 3, buffer: 1, idleShutdownAfter: 1_000 });
    await pool.start(); // min 0: nothing to wait for; the buffer boots in the background
    await clock.advance(100);
    expect(pool.snapshot().runners.map((r) => r.state)).toEqual(["ready"]);
    await clock.advance(10_000); // past idleShutdownAfter: the buffer runner stays
    expect(pool.snapshot().runners).toHaveLength(1);
    const call = outcome(pool.call(echo, "x"));
    await flush();
    expect(
      pool
        .snapshot()
        .runners.map((r) => r.state)
        .sort(),
    ).toEqual(["booting", "ready"]);
    calls.pending[0]?.resolve("x");
    await clock.advance(100);
    expect(call.current).toBe("x");
    pool.resize({ min: 0, max: 3, buffer: 0 });
    await clock.advance(1_000);
    await clock.advance(1_000);
    expect(pool.snapshot().runners).toHaveLength(0);
  });
});

describe("budget", () => {
  it("blocks boots once runner time is spent: BUDGET_EXHAUSTED and a budgetBlocked event", async () => {
    const { pool, clock, events, calls } = setup({
      max: 2,
      idleShutdownAfter: 100,
      budget: { runnerMs: 1_000, windowMs: 60_000 },
    });
    const first = outcome(pool.call(echo, 1, { timeout: 5_000 }));
    await clock.advance(100);
    await clock.advance(900);
    calls.pending[0]?.resolve(1);
    await clock.advance(100); // idles out; the fake runner ignores its shutdown...
    await clock.advance(1_000); // ...and is killed at shutdownTimeout
    expect(first.current).toBe(1);
    expect(pool.snapshot().runners).toHaveLength(0);
    const second = outcome(pool.call(echo, 2));
    await flush();
    expect(second.current).toBe("BUDGET_EXHAUSTED");
    expect(pool.snapshot().budget?.spentMs).toBeGreaterThanOrEqual(1_000);
    expect(events.find((e) => e.type === "budgetBlocked")).toMatchObject({ budgetMs: 1_000 });
  });
});

describe("drain", () => {
  it("refuses new calls at once, lets queued and running ones finish, then stops", async () => {
    const { pool, clock, calls, world, events } = setup({ max: 1, maxConcurrency: 1 });
    const running = outcome(pool.call(echo, 1));
    await clock.advance(100);
    const queued = outcome(pool.call(echo, 2));
    const drained = settled(pool.drain({ timeout: 30_000 }));
    await flush();
    expect(pool.snapshot().draining).toBe(true);
    await expect(pool.call(echo, 3)).rejects.toMatchObject({ code: "POOL_STOPPED" });
    calls.pending[0]?.resolve(1);
    await flush();
    calls.pending[1]?.resolve(2);
    await flush();
    expect([running.current, queued.current]).toEqual([1, 2]);
    expect(world.runners[0]?.conn?.shutdownReason).toBe("stop");
    expect(drained.done).toBe(false);
    await clock.advance(1_000); // the fake runner ignores its shutdown: killed
    expect(drained.done).toBe(true);
    expect(events.some((e) => e.type === "stopped")).toBe(true);
  });

  it("at the drain timeout, callers still queued fail POOL_STOPPED and the pool stops", async () => {
    const { pool, clock } = setup({ max: 1, maxConcurrency: 1, prefetch: false });
    const running = outcome(pool.call(echo, 1, { timeout: Number.POSITIVE_INFINITY }));
    await clock.advance(100);
    const queued = outcome(pool.call(echo, 2, { timeout: Number.POSITIVE_INFINITY }));
    void pool.drain({ timeout: 5_000 });
    await clock.advance(4_999);
    expect(queued.current).toBeUndefined();
    await clock.advance(1);
    expect(queued.current).toBe("POOL_STOPPED");
    await clock.advance(1_000); // the running call's runner is killed at shutdownTimeout
    expect(running.current).toBe("RUNNER_DOWN");
  });
});

describe("stop is bounded", () => {
  it("a frozen runner on a hung backend is killed after shutdownTimeout; stop() resolves and reports it", async () => {
    const { pool, clock, world, events } = setup({ min: 1, max: 1, shutdownTimeout: 1_000 });
    const started = settled(pool.start());
    await clock.advance(200);
    expect(started.done).toBe(true);
    world.runners.forEach((r) => {
      r.frozen = true;
    });
    const stopped = settled(pool.stop());
    await clock.advance(999);
    expect(stopped.done).toBe(false);
    await clock.advance(1);
    // Killed through the backend (whose stop() never returns) and its link cut. stop() waits
    // for the backend to confirm the exit, but only for the kill grace (here 1,000 ms).
    expect(world.runners[0]?.stopped).toBe(true);
    await flush();
    expect(stopped.done).toBe(false);
    await clock.advance(1_000);
    expect(stopped.done).toBe(true);
    expect(events.filter((e) => e.type === "runnerKilled")).toMatchObject([
      { runnerId: world.runners[0]?.req.runnerId, abandoned: false },
    ]);
    expect(events.at(-1)?.type).toBe("stopped");
  });
  it("a runner whose exit is never confirmed (hung backend, wedged link) is given up on after killGrace", async () => {
    const { pool, clock, world, events } = setup({ min: 1, max: 1, shutdownTimeout: 1_000 });
    void pool.start();
    await clock.advance(200);
    const runner = world.runners[0];
    if (runner?.conn === null || runner === undefined) throw new Error("no runner");
    runner.frozen = true;
    runner.conn.wedged = true;
    const stopped = settled(pool.stop());
    await clock.advance(1_000); // shutdownTimeout: killed, but nothing confirms it
    expect(stopped.done).toBe(false);
    await clock.advance(999);
    expect(stopped.done).toBe(false);
    await clock.advance(1); // killGrace = min(shutdownTimeout, 10 s): given up on
    expect(stopped.done).toBe(true);
    expect(
      events
        .filter((e) => e.type === "runnerKilled")
        .map((e) => e.type === "runnerKilled" && e.abandoned),
    ).toEqual([false, true]);
    expect(events.find((e) => e.type === "runnerDown")).toMatchObject({ expected: true });
  });
});

describe("boot failures surfaced", () => {
  it("a permanent backend failure fails the waiting caller at once with the backend's message, no retry", async () => {
    const { pool, world, clock } = setup({ max: 1 });
    world.failNext = 5;
    world.failWith = new FlameError("BOOT_FAILED", "image flame:missing not found", {
      permanent: true,
    });
    const call = outcome(pool.call(echo, 1, { timeout: 60_000 }));
    await flush();
    expect(call.current).toBe("BOOT_FAILED");
    expect(call.error?.message).toContain("image flame:missing not found");
    expect(call.error?.permanent).toBe(true);
    await clock.advance(10_000);
    expect(world.failNext).toBe(4); // one attempt, no retries
  });

  it("a runner that exits with code 1 before hello (bad entry) is permanent too", async () => {
    const { pool, world } = setup({ max: 1 });
    world.exitBeforeHello = {
      code: 1,
      reason: "flame-runner: could not load entry /app/missing.js",
    };
    const call = outcome(pool.call(echo, 1, { timeout: 60_000 }));
    await world.clock.advance(100);
    expect(call.current).toBe("BOOT_FAILED");
    expect(call.error?.message).toContain("could not load entry /app/missing.js");
    expect(world.runners).toHaveLength(1);
  });

  it("a transient failure retries after 1 s, and a later TIMEOUT names the last boot error", async () => {
    const { pool, world, clock } = setup({ max: 1, bootTimeout: 2_000 });
    world.failNext = 100;
    world.failWith = new Error("429 Too Many Requests");
    const call = outcome(pool.call(echo, 1, { timeout: 5_000 }));
    await clock.advance(1_000);
    expect(call.current).toBeUndefined();
    expect(world.failNext).toBe(98); // retried after the debounce
    await clock.advance(4_000);
    expect(call.current).toBe("TIMEOUT");
    expect(call.error?.message).toMatch(
      /the last boot failed: fake backend: 429 Too Many Requests/,
    );
  });

  it("a boot that never says hello is aborted at bootTimeout by the core and retried", async () => {
    const { pool, world, clock } = setup({ max: 1, bootTimeout: 2_000 });
    world.hangNext = 1;
    const call = outcome(pool.call(echo, 1, { timeout: 30_000 }));
    await clock.advance(2_000);
    expect(world.runners[0]?.stopped).toBe(true);
    await clock.advance(1_000);
    await clock.advance(100);
    expect(world.runners).toHaveLength(2);
    expect(pool.snapshot().runners.map((r) => r.state)).toEqual(["ready"]);
    expect(call.current).toBeUndefined(); // running on the second runner
  });
});
