/**
 * The Pool host on virtual time against an in-memory link and backend: no processes, no
 * sockets, no real timers. Each test drives time with `clock.advance` and asserts what a
 * user would see (results, error codes, events, snapshots). Here: options, start and stop,
 * and boots that race their runner's hello.
 */
import { describe, expect, it } from "vitest";
import { type FlameError, isFlameError } from "../../src/errors.js";
import { Pool } from "../../src/host/pool.js";
import type { PoolOptions } from "../../src/options/index.js";
import { ControlledCalls, type FakeRunner, FakeWorld, flush, VirtualClock } from "./fakes.js";
import { echo, outcome, useVirtualPools } from "./virtual-pool.js";

const setup = useVirtualPools("echo");

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
    const { pool, world, clock } = setup({ max: 1, maxConcurrency: 1, prefetch: false });
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
