/**
 * The Pool host on virtual time against an in-memory link and backend: no processes, no
 * sockets, no real timers. Each test drives time with `clock.advance` and asserts what a
 * user would see (results, error codes, events, snapshots).
 */
import { afterEach, describe, expect, it } from "vitest";
import { FlameError, isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { Pool } from "../../src/host/pool.js";
import type { PoolOptions } from "../../src/options/index.js";
import type { PoolEvent } from "../../src/telemetry/events.js";
import { ControlledCalls, type FakeRunner, FakeWorld, flush, VirtualClock } from "./fakes.js";

const echo = defineFunction("host-test.echo", (input: unknown) => input);

let pools: Array<{ pool: Pool; clock: VirtualClock }> = [];
afterEach(async () => {
  // Runners that ignore shutdown are killed after shutdownTimeout: virtual time must move.
  for (const { pool, clock } of pools) await stopOnVirtualTime(pool, clock);
  pools = [];
});

async function stopOnVirtualTime(pool: Pool, clock: VirtualClock): Promise<void> {
  let done = false;
  void pool.stop().finally(() => {
    done = true;
  });
  for (let i = 0; i < 100 && !done; i += 1) await clock.advance(1_000);
  expect(done).toBe(true);
}

function setup(options: Partial<PoolOptions> = {}, env: NodeJS.ProcessEnv = {}) {
  const clock = new VirtualClock();
  const world = new FakeWorld(clock);
  const pool = new Pool(
    { name: "t", max: 2, backend: world, clock, shutdownTimeout: 1_000, ...options },
    { listen: world.listen, env },
  );
  pools.push({ pool, clock });
  const events: PoolEvent[] = [];
  pool.events.subscribe((e) => events.push(e));
  return { clock, world, pool, events };
}

/** Settles `promise` into a value or a FlameError code, without unhandled rejections. */
function outcome<T>(promise: Promise<T>): { current: T | string | undefined } {
  const box: { current: T | string | undefined } = { current: undefined };
  promise.then(
    (v) => {
      box.current = v;
    },
    (e: unknown) => {
      box.current = isFlameError(e) ? e.code : `non-flame: ${String(e)}`;
    },
  );
  return box;
}

describe("options", () => {
  const world = new FakeWorld(new VirtualClock());
  it.each([
    ["max", { max: 0 }],
    ["min", { min: 3, max: 2 }],
    ["maxConcurrency", { maxConcurrency: 1.5 }],
    ["timeout", { timeout: -1 }],
    ["bootTimeout", { bootTimeout: Number.POSITIVE_INFINITY }],
    ["idleShutdownAfter.check", { idleShutdownAfter: { afterMs: 10, check: 3 } }],
    ["log", { log: "loud" }],
    ["listen.port", { listen: { port: 70_000 } }],
    ["listen.tls.cert", { listen: { tls: { cert: 1, key: "k" } } }],
    ["listen.advertiseUrl", { listen: { tls: { cert: "c", key: "k" }, advertiseUrl: "ws://x:1" } }],
    ["listen.maxHandshakes", { listen: { maxHandshakes: 0 } }],
    ["listen.maxHandshakesPerSource", { listen: { maxHandshakesPerSource: 1.5 } }],
    ["listen.upgradeTimeout", { listen: { upgradeTimeout: 0 } }],
    ["link.sendHighWaterBytes", { link: { sendHighWaterBytes: 10 } }],
    ["link.maxQueuedSends", { link: { maxQueuedSends: -1 } }],
    ["name", { name: "has space" }],
    ["backend", { backend: {} }],
  ])("rejects a bad %s with INVALID_OPTIONS naming it", (field, bad) => {
    const options = { name: "t", max: 2, backend: world, ...bad } as unknown as PoolOptions;
    try {
      new Pool(options, { listen: world.listen, env: {} });
      expect.unreachable();
    } catch (error) {
      expect(isFlameError(error, "INVALID_OPTIONS")).toBe(true);
      expect((error as FlameError).field).toBe(field);
      expect((error as FlameError).message).toContain(`\`${field}\``);
    }
  });

  it("forces min to 0 inside a runner (FLAME_PARENT set)", async () => {
    const { pool, world } = setup({ min: 2 }, { FLAME_PARENT: "x" });
    expect(pool.snapshot().min).toBe(0);
    await pool.start();
    expect(world.runners).toHaveLength(0);
  });

  it("forces min to 0 inside a runner whose agent removed FLAME_PARENT (FLAME_RUNNER=1)", async () => {
    const { pool } = setup({ min: 2 }, { FLAME_RUNNER: "1" });
    expect(pool.snapshot().min).toBe(0);
    expect(() => pool.resize({ min: 2, max: 2 })).not.toThrow();
    expect(pool.snapshot().min).toBe(0);
  });
});

describe("boots that fail after their runner connected", () => {
  it("closes the link of a runner whose hello raced its boot() failure", async () => {
    const { clock, world, pool } = setup({ max: 1, bootTimeout: 10_000 });
    const inner = world.boot.bind(world);
    const raced: FakeRunner[] = [];
    world.boot = async (req) => {
      const runner = (await inner(req)) as FakeRunner;
      raced.push(runner);
      // The runner says hello (bootMs) before the backend call gives up.
      await new Promise<void>((resolve) =>
        clock.setTimer(clock.nowMs() + world.bootMs + 50, resolve),
      );
      throw new Error("backend failed after the runner connected");
    };
    const call = outcome(pool.call(echo, 1, { timeout: 5_000 }));
    await clock.advance(world.bootMs + 100);
    const conn = raced[0]?.conn;
    expect(conn).not.toBeNull();
    let closedWith: string | null = null;
    void conn?.closed.then(({ reason }) => {
      closedWith = reason;
    });
    await flush();
    expect(closedWith).toBe("its boot failed");
    expect(pool.snapshot().runners).toHaveLength(0);
    // Each retry's boot fails the same way; the caller ends with a failure, never a hang.
    await clock.advance(20_000);
    expect(call.current).toMatch(/TIMEOUT|BOOT_FAILED/);
    const reasons = await Promise.all(
      raced.flatMap((r) => (r.conn === null ? [] : [r.conn.closed.then((c) => c.reason)])),
    );
    expect(reasons.length).toBeGreaterThan(1);
    expect(new Set(reasons)).toEqual(new Set(["its boot failed"]));
  });
});

describe("a pool stopped while a boot is in flight", () => {
  it("a stop landing between the backend's answer and the hello leaves no unhandled rejection and no runner", async () => {
    const { clock, world, pool } = setup({ min: 0, max: 1, bootTimeout: 10_000 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const inner = world.boot.bind(world);
      let stopped: Promise<void> | null = null;
      const stoppedRunners: string[] = [];
      world.boot = async (req) => {
        const runner = await inner(req);
        return {
          meta: runner.meta,
          stop: () => {
            stoppedRunners.push(req.runnerId);
            return runner.stop();
          },
          // The host reads `exited` right after boot() resolved, before it waits for the
          // hello: stopping the pool there aborts the boot at exactly that point.
          get exited() {
            stopped ??= pool.stop();
            return runner.exited;
          },
        };
      };
      const call = outcome(pool.call(echo, 1, { timeout: 5_000 }));
      await clock.advance(world.bootMs + 100);
      for (let i = 0; i < 20 && stopped === null; i += 1) await clock.advance(100);
      expect(stopped).not.toBeNull();
      for (let i = 0; i < 20; i += 1) await clock.advance(1_000);
      await stopped;
      // Let a late rejection surface (Node reports them after the microtask queue drains).
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([]);
      expect(call.current).toBe("POOL_STOPPED");
      expect(stoppedRunners).toHaveLength(1);
      expect(pool.snapshot().runners).toHaveLength(0);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("lifecycle", () => {
  it("start boots min runners and resolves once they said hello", async () => {
    const { pool, world, clock } = setup({ min: 2, max: 3 });
    const started = outcome(pool.start());
    await clock.advance(50);
    expect(started.current).toBeUndefined();
    expect(pool.snapshot().runners.map((r) => r.state)).toEqual(["booting", "booting"]);
    await clock.advance(60);
    expect(started.current).toBeUndefined();
    await flush();
    const snap = pool.snapshot();
    expect(snap.runners.map((r) => [r.state, r.isMin, r.meta.fake])).toEqual([
      ["ready", true, "0"],
      ["ready", true, "1"],
    ]);
    expect(world.runners.map((r) => r.req.env.FLAME_PARENT !== undefined)).toEqual([true, true]);
  });

  it("start rejects BOOT_FAILED when a min runner never says hello, and stops it", async () => {
    const { pool, world, clock } = setup({ min: 1, bootTimeout: 5_000 });
    world.hangNext = 1;
    const started = outcome(pool.start());
    await clock.advance(4_999);
    expect(started.current).toBeUndefined();
    await clock.advance(1);
    expect(started.current).toBe("BOOT_FAILED");
    expect(world.runners[0]?.stopped).toBe(true);
  });

  it("stop rejects waiters with POOL_STOPPED, drains runners, then refuses calls", async () => {
    const { pool, world, clock } = setup({ max: 1, maxConcurrency: 1 });
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const first = outcome(pool.call(echo, 1));
    await clock.advance(100);
    const second = outcome(pool.call(echo, 2));
    await flush();
    const stopped = outcome(pool.stop());
    await flush();
    expect(second.current).toBe("POOL_STOPPED");
    expect(world.runners[0]?.conn?.shutdownReason).toBe("stop");
    // The runner drains: the running call still finishes.
    calls.pending[0]?.resolve("done");
    await flush();
    expect(first.current).toBe("done");
    // It did not exit on its own: killed after shutdownTimeout.
    await clock.advance(1_000);
    expect(world.runners[0]?.stopped).toBe(true);
    expect(stopped.current).toBeUndefined(); // resolved with void
    await expect(pool.call(echo, 3)).rejects.toMatchObject({ code: "POOL_STOPPED" });
  });
});

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

  it("warm: timeout spans queue + run (waiting behind a busy runner at max)", async () => {
    const { pool, world, clock } = setup({ max: 1, maxConcurrency: 1, timeout: 1_000 });
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
    const { pool, world, clock, events } = setup({ max: 1, maxConcurrency: 1, timeout: 1_000 });
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

describe("scaling", () => {
  it("resize boots up to the new min and drains surplus idle runners", async () => {
    const { pool, world, clock, events } = setup({ max: 3 });
    await pool.start();
    pool.resize({ min: 2, max: 3 });
    await flush();
    expect(pool.snapshot().runners.map((r) => r.state)).toEqual(["booting", "booting"]);
    expect(pool.snapshot().runners[0]?.meta).toEqual({ fake: "0" });
    await clock.advance(100);
    expect(pool.snapshot().runners.map((r) => [r.state, r.isMin])).toEqual([
      ["ready", true],
      ["ready", true],
    ]);
    pool.resize({ min: 0, max: 1 });
    await flush();
    expect(world.runners.map((r) => r.conn?.shutdownReason)).toContain("resize");
    expect(events.filter((e) => e.type === "resize")).toMatchObject([
      { min: 2, max: 3 },
      { min: 0, max: 1 },
    ]);
    expect(() => pool.resize({ min: 2, max: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field: "min" }),
    );
  });

  it("a min runner is exempt from idle shutdown", async () => {
    const { pool, world, clock, events } = setup({ min: 1, max: 2, idleShutdownAfter: 5_000 });
    const started = outcome(pool.start());
    await clock.advance(100);
    expect(started.current).toBeUndefined();
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const a = outcome(pool.call(echo, 1));
    await flush();
    expect(world.runners).toHaveLength(1);
    calls.pending[0]?.resolve("a");
    await flush();
    expect(a.current).toBe("a");
    await clock.advance(60_000);
    expect(world.runners[0]?.conn?.shutdownReason).toBeNull();
    expect(events.some((e) => e.type === "shrink")).toBe(false);
  });

  it("a non-min idle runner drains after idleShutdownAfter, asking the idle check first", async () => {
    const checked: string[] = [];
    let answer = false;
    const { pool, world, clock } = setup({
      idleShutdownAfter: {
        afterMs: 5_000,
        check: ({ runnerId }) => {
          checked.push(runnerId);
          return answer;
        },
      },
    });
    const r = outcome(pool.call(echo, 1));
    await clock.advance(100);
    expect(r.current).toBe(1);
    await clock.advance(5_000);
    expect(checked).toHaveLength(1);
    expect(world.runners[0]?.conn?.shutdownReason).toBeNull();
    answer = true;
    await clock.advance(5_000);
    expect(checked).toHaveLength(2);
    expect(world.runners[0]?.conn?.shutdownReason).toBe("idle");
  });

  it("a failed boot is reported and retried while a caller waits", async () => {
    const { pool, world, clock, events } = setup();
    world.failNext = 1;
    const result = outcome(pool.call(echo, "x"));
    await clock.advance(10);
    expect(events.find((e) => e.type === "bootFailed")).toMatchObject({
      error: expect.stringContaining("no capacity"),
    });
    await clock.advance(1_000 + 100);
    expect(result.current).toBe("x");
  });

  it("hooks see growth and shrink with the runner count", async () => {
    const seen: string[] = [];
    const { pool, world, clock } = setup({
      onGrowStart: ({ count }) => seen.push(`start:${count}`),
      onGrowEnd: (result, { count }) => seen.push(`end:${result.ok}:${count}`),
      onShrink: ({ count }) => seen.push(`shrink:${count}`),
    });
    outcome(pool.call(echo, 1));
    await clock.advance(100);
    world.runners[0]?.crash();
    await flush();
    expect(seen).toEqual(["start:1", "end:true:1", "shrink:0"]);
  });
});
