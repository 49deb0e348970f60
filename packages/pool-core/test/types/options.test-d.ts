/**
 * `new Pool(options)` accepts what README "Options" documents and nothing else: a wrong type
 * or an unknown option is a compile error, not only INVALID_OPTIONS at runtime.
 */
import {
  type Backend,
  type GrowResult,
  LocalBackend,
  type LogLevel,
  Pool,
  type PoolOptions,
} from "@flame-ts/pool-core";
import { describe, expectTypeOf, it } from "vitest";

const backend = new LocalBackend({ entry: new URL("./functions.js", import.meta.url) });

describe("PoolOptions", () => {
  it("requires only name, backend and max", () => {
    new Pool({ name: "p", backend, max: 1 });
    // @ts-expect-error max is required
    new Pool({ name: "p", backend });
    // @ts-expect-error backend is required
    new Pool({ name: "p", max: 1 });
    expectTypeOf<PoolOptions["backend"]>().toEqualTypeOf<Backend>();
  });

  it("takes every documented option", () => {
    new Pool({
      name: "p",
      backend,
      max: 10,
      min: 1,
      maxConcurrency: 100,
      maxWaiting: Number.POSITIVE_INFINITY,
      buffer: 1,
      budget: { runnerMs: 3_600_000, windowMs: 86_400_000 },
      timeout: 30_000,
      bootTimeout: 30_000,
      shutdownTimeout: 30_000,
      idleShutdownAfter: { afterMs: 30_000, check: async ({ runnerId }) => runnerId !== "" },
      minIdleShutdownAfter: Number.POSITIVE_INFINITY,
      singleUse: false,
      log: "warn",
      listen: {
        host: "0.0.0.0",
        port: 0,
        advertiseUrl: "ws://10.0.0.1:4000",
        upgradeTimeout: 3_000,
      },
      link: { sendHighWaterBytes: 1 << 20, maxQueuedSends: 10, deadlineGrace: 1_000 },
      maxFrameBytes: 16 << 20,
      failsafeTimeout: 20_000,
      execution: { mode: "threads", threads: 2, terminateGraceMs: 1_000, threadMemoryMb: 256 },
      heartbeat: { intervalMs: 1_000, timeoutMs: 10_000 },
      onGrowStart: ({ name, count }) => void [name, count],
      onGrowEnd: (result, { count }) => void [result, count],
      onShrink: ({ count }) => void count,
    });
  });

  it("refuses a wrong type", () => {
    // @ts-expect-error timeout is a number of ms
    new Pool({ name: "p", backend, max: 1, timeout: "30s" });
    // @ts-expect-error log is false, a level or a function
    new Pool({ name: "p", backend, max: 1, log: true });
    // @ts-expect-error not a log level
    new Pool({ name: "p", backend, max: 1, log: "verbose" });
    // @ts-expect-error mode is "threads" or "inline"
    new Pool({ name: "p", backend, max: 1, execution: { mode: "processes" } });
    // @ts-expect-error idleShutdownAfter's check is a function
    new Pool({ name: "p", backend, max: 1, idleShutdownAfter: { afterMs: 1, check: true } });
    // @ts-expect-error deadlineGrace is a number of ms
    new Pool({ name: "p", backend, max: 1, link: { deadlineGrace: "1s" } });
  });

  it("refuses an unknown option, also inside a group", () => {
    // @ts-expect-error no such option (FLAME's name is max_concurrency; ours maxConcurrency)
    new Pool({ name: "p", backend, max: 1, concurrency: 10 });
    // @ts-expect-error no such listen option
    new Pool({ name: "p", backend, max: 1, listen: { address: "0.0.0.0" } });
    // @ts-expect-error no such heartbeat option
    new Pool({ name: "p", backend, max: 1, heartbeat: { everyMs: 1_000 } });
  });

  it("types the hooks' arguments", () => {
    expectTypeOf<NonNullable<PoolOptions["onGrowEnd"]>>().parameter(0).toEqualTypeOf<GrowResult>();
    expectTypeOf<NonNullable<PoolOptions["onShrink"]>>()
      .parameter(0)
      .toEqualTypeOf<{ readonly name: string; readonly count: number }>();
    expectTypeOf<Extract<PoolOptions["log"], string>>().toEqualTypeOf<LogLevel>();
  });
});
