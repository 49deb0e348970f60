/** Issue 24: the `retry` option (pool and call), validated with INVALID_OPTIONS naming the field. */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/backend.js";
import { isFlameError } from "../../src/errors.js";
import { resolveOptions, retryPolicy } from "../../src/options/index.js";

const backend: Backend = {
  name: "unused",
  boot: () => Promise.reject(new Error("options tests boot nothing")),
};

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isFlameError(error) && error.code === "INVALID_OPTIONS") return error.field;
    throw error;
  }
  return undefined;
}

describe("retry option", () => {
  it("is off unless asked for; backoffMs defaults to 100", () => {
    expect(resolveOptions({ name: "t", backend, max: 1 }, {}).retry).toBeNull();
    const o = resolveOptions({ name: "t", backend, max: 1, retry: { runnerDown: 2 } }, {});
    expect(o.retry).toEqual({ runnerDown: 2, backoffMs: 100 });
    expect(retryPolicy("retry", { runnerDown: 1, backoffMs: 0 })).toEqual({
      runnerDown: 1,
      backoffMs: 0,
    });
  });

  it("runnerDown: 0 turns retries off (null)", () => {
    expect(retryPolicy("retry", { runnerDown: 0 })).toBeNull();
  });

  it.each([
    [null, "retry"],
    [5, "retry"],
    [{}, "retry.runnerDown"],
    [{ runnerDown: -1 }, "retry.runnerDown"],
    [{ runnerDown: 1.5 }, "retry.runnerDown"],
    [{ runnerDown: 101 }, "retry.runnerDown"],
    [{ runnerDown: 1, backoffMs: -1 }, "retry.backoffMs"],
    [{ runnerDown: 1, backoffMs: Number.POSITIVE_INFINITY }, "retry.backoffMs"],
  ])("refuses %j naming %s", (value, field) => {
    expect(fieldOf(() => retryPolicy("retry", value))).toBe(field);
    expect(
      fieldOf(() =>
        resolveOptions({ name: "t", backend, max: 1, retry: value as { runnerDown: number } }, {}),
      ),
    ).toBe(field);
  });
});
