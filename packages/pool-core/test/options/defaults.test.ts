/**
 * What a pool gets when it sets only what is required: the defaults README "Options" and the
 * options' doc comments promise, checked against what `resolveOptions` really resolves.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/backend.js";
import { DEFAULTS, type PoolOptions, realClock, resolveOptions } from "../../src/options/index.js";

const backend: Backend = {
  name: "unused",
  boot: () => Promise.reject(new Error("options tests boot nothing")),
};
const MiB = 1024 * 1024;

describe("defaults", () => {
  it("fills every option the README documents with its documented default", () => {
    const { log, clock, ...resolved } = resolveOptions({ name: "t", backend, max: 3 }, {});
    expect(resolved).toEqual({
      name: "t",
      backend,
      min: 0,
      max: 3,
      maxConcurrency: 100,
      prefetch: true,
      maxWaiting: 10_000,
      buffer: 0,
      budget: null,
      timeoutMs: 30_000,
      bootTimeoutMs: 30_000,
      shutdownTimeoutMs: 30_000,
      idleShutdownAfterMs: 30_000,
      idleCheck: null,
      minIdleShutdownAfterMs: null,
      singleUse: false,
      failsafeTimeoutMs: 20_000,
      listen: {
        host: "127.0.0.1",
        port: 0,
        maxHandshakes: 64,
        maxHandshakesPerSource: 16,
        upgradeTimeoutMs: 3_000,
      },
      link: {
        sendHighWaterBytes: 32 * MiB,
        maxQueuedSends: 1_000,
        deadlineGraceMs: 1_000,
        answerBudgetBytes: 64 * MiB,
      },
      maxFrameBytes: 16 * MiB,
      execution: { mode: "threads", threads: null, terminateGraceMs: 1_000, threadMemoryMb: null },
      heartbeat: { intervalMs: 1_000, timeoutMs: 10_000 },
      onGrowStart: null,
      onGrowEnd: null,
      onShrink: null,
      retry: null,
    });
    expect(clock).toBe(realClock);
    expect(typeof log).toBe("function");
  });

  it("the public DEFAULTS table agrees with what is resolved", () => {
    const o = resolveOptions({ name: "t", backend, max: 1 }, {});
    expect(DEFAULTS.maxConcurrency).toBe(o.maxConcurrency);
    expect(DEFAULTS.timeout).toBe(o.timeoutMs);
    expect(DEFAULTS.bootTimeout).toBe(o.bootTimeoutMs);
    expect(DEFAULTS.idleShutdownAfter).toBe(o.idleShutdownAfterMs);
    expect(DEFAULTS.minIdleShutdownAfter).toBe(Number.POSITIVE_INFINITY);
    expect(DEFAULTS.linkDeadlineGraceMs).toBe(o.link.deadlineGraceMs);
    expect(DEFAULTS.maxFrameBytes).toBe(o.maxFrameBytes);
  });

  it("turns Infinity into null (never) where Infinity is allowed", () => {
    const never = Number.POSITIVE_INFINITY;
    const o = resolveOptions(
      { name: "t", backend, max: 1, timeout: never, maxWaiting: never, idleShutdownAfter: never },
      {},
    );
    expect([o.timeoutMs, o.maxWaiting, o.idleShutdownAfterMs]).toEqual([null, null, null]);
  });

  it("takes an idle check with its own afterMs", () => {
    const check = () => true;
    const o = resolveOptions(
      { name: "t", backend, max: 1, idleShutdownAfter: { afterMs: 5_000, check } },
      {},
    );
    expect([o.idleShutdownAfterMs, o.idleCheck]).toEqual([5_000, check]);
  });
});

describe("validation not covered by the pool tests", () => {
  it.each([
    ["options", null],
    ["shutdownTimeout", { shutdownTimeout: 0 }],
    ["minIdleShutdownAfter", { minIdleShutdownAfter: -5 }],
    ["singleUse", { singleUse: "yes" }],
    ["prefetch", { prefetch: 1 }],
    ["failsafeTimeout", { failsafeTimeout: Number.POSITIVE_INFINITY }],
    ["maxFrameBytes", { maxFrameBytes: 100 }],
    ["execution", { execution: 1 }],
    ["execution.mode", { execution: { mode: "fork" } }],
    ["execution.threads", { execution: { threads: 0 } }],
    ["execution.terminateGraceMs", { execution: { terminateGraceMs: -1 } }],
    ["execution.threadMemoryMb", { execution: { threadMemoryMb: 0 } }],
    ["heartbeat", { heartbeat: "fast" }],
    ["heartbeat.timeoutMs", { heartbeat: { intervalMs: 2_000, timeoutMs: 1_000 } }],
    ["clock.setTimer", { clock: { nowMs: () => 0, clearTimer: () => {} } }],
    ["onGrowStart", { onGrowStart: "hook" }],
    ["onGrowEnd", { onGrowEnd: 1 }],
    ["onShrink", { onShrink: {} }],
    ["listen", { listen: 80 }],
    ["listen.host", { listen: { host: "" } }],
    ["listen.advertiseUrl", { listen: { advertiseUrl: "http://x" } }],
    ["listen.tls", { listen: { tls: "pem" } }],
    ["link", { link: 5 }],
    ["idleShutdownAfter.afterMs", { idleShutdownAfter: { afterMs: 0, check: () => true } }],
  ])("a bad %s fails INVALID_OPTIONS naming it", (field, bad) => {
    const options =
      bad === null ? null : { name: "t", backend, max: 1, ...(bad as Partial<PoolOptions>) };
    expect(() => resolveOptions(options as PoolOptions, {})).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field }),
    );
  });
});
