/**
 * The pool's options and the runner descriptor check the limits they share with the same
 * rule (wire/limits.ts): a value `new Pool` accepts is one every runner accepts, and a value
 * a runner would refuse fails at `new Pool`, naming the option.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/backend.js";
import { FlameError } from "../../src/errors.js";
import { type PoolOptions, resolveOptions } from "../../src/options/index.js";
import { checkDescriptor, type ParentDescriptor } from "../../src/wire/index.js";

const backend: Backend = {
  name: "never-boots",
  boot: () => Promise.reject(new Error("not booted in this test")),
};

const descriptor: ParentDescriptor = {
  url: "ws://127.0.0.1:4000",
  token: "token",
  runnerId: "limits-1",
  pool: "limits",
  protocol: 4,
  idleShutdownAfterMs: null,
  singleUse: false,
  failsafeTimeoutMs: 20_000,
  shutdownTimeoutMs: 30_000,
  maxFrameBytes: 16 * 1024 * 1024,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 10_000,
  maxConcurrency: 4,
  execution: { mode: "threads", threads: null, terminateGraceMs: 1_000, threadMemoryMb: null },
};

/** null when the options resolve, else the field INVALID_OPTIONS names. */
function optionsRefuse(extra: Partial<PoolOptions>): string | null {
  try {
    resolveOptions({ name: "limits", max: 1, backend, ...extra }, {});
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(FlameError);
    return (error as FlameError).field ?? "?";
  }
}

function descriptorRefuses(d: unknown): string | null {
  const verdict = checkDescriptor(d);
  return verdict.ok ? null : verdict.violation.field;
}

const ODD_VALUES: readonly unknown[] = [0, 1, 1.5, 64, 1023, 1024, 2048.5, -1, Number.NaN, "64"];

describe("one rule per limit, on both ends", () => {
  it.each(ODD_VALUES)("execution.threadMemoryMb = %s", (value) => {
    const fromOptions = optionsRefuse({ execution: { threadMemoryMb: value as number } });
    const fromDescriptor = descriptorRefuses({
      ...descriptor,
      execution: { ...descriptor.execution, threadMemoryMb: value },
    });
    expect(fromOptions === null).toBe(fromDescriptor === null);
    if (fromOptions !== null) expect(fromOptions).toBe("execution.threadMemoryMb");
  });

  it.each(ODD_VALUES)("execution.threads = %s", (value) => {
    const fromOptions = optionsRefuse({ execution: { threads: value as number } });
    const fromDescriptor = descriptorRefuses({
      ...descriptor,
      execution: { ...descriptor.execution, threads: value },
    });
    expect(fromOptions === null).toBe(fromDescriptor === null);
  });

  it.each(ODD_VALUES)("execution.terminateGraceMs = %s", (value) => {
    const fromOptions = optionsRefuse({ execution: { terminateGraceMs: value as number } });
    const fromDescriptor = descriptorRefuses({
      ...descriptor,
      execution: { ...descriptor.execution, terminateGraceMs: value },
    });
    expect(fromOptions === null).toBe(fromDescriptor === null);
  });

  it.each(ODD_VALUES)("maxFrameBytes = %s", (value) => {
    const fromOptions = optionsRefuse({ maxFrameBytes: value as number });
    const fromDescriptor = descriptorRefuses({ ...descriptor, maxFrameBytes: value });
    expect(fromOptions === null).toBe(fromDescriptor === null);
  });

  it.each([
    [1_000, 1_000],
    [1_000, 1_001],
    [5_000, 2_000],
  ])("heartbeat interval %s ms, timeout %s ms", (intervalMs, timeoutMs) => {
    const fromOptions = optionsRefuse({ heartbeat: { intervalMs, timeoutMs } });
    const fromDescriptor = descriptorRefuses({
      ...descriptor,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
    });
    expect(fromOptions === null).toBe(fromDescriptor === null);
  });

  it("a heap cap is a whole number of MiB: 1.5 is refused at new Pool, 64 is kept", () => {
    expect(optionsRefuse({ execution: { threadMemoryMb: 1.5 } })).toBe("execution.threadMemoryMb");
    const resolved = resolveOptions(
      { name: "limits", max: 1, backend, execution: { threadMemoryMb: 64 } },
      {},
    );
    expect(resolved.execution.threadMemoryMb).toBe(64);
  });
});
