import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { defineFunction, listFunctionIds, lookupFunction } from "../../src/functions.js";

describe("function registry", () => {
  it("registers a function under its id and finds it again", async () => {
    const fn = defineFunction("registry-test.double", (n: number) => n * 2);
    expect(fn.id).toBe("registry-test.double");
    expect(lookupFunction("registry-test.double")).toBe(fn);
    expect(listFunctionIds()).toContain("registry-test.double");
    const signal = new AbortController().signal;
    const ctx = {
      signal,
      deadlineMs: null,
      runnerId: "r",
      idempotencyKey: "k",
      attempt: 1,
      track: () => {
        throw new TypeError("not on a runner");
      },
      get: () => {
        throw new TypeError("not on a runner");
      },
      resource: undefined,
    };
    expect(await lookupFunction("registry-test.double")?.impl(21, ctx)).toBe(42);
    expect(lookupFunction("registry-test.missing")).toBeUndefined();
  });

  it("refuses a duplicate id, naming it", () => {
    defineFunction("registry-test.dup", () => 1);
    let caught: unknown;
    try {
      defineFunction("registry-test.dup", () => 2);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FlameError);
    expect((caught as FlameError).code).toBe("INVALID_OPTIONS");
    expect((caught as FlameError).message).toContain('"registry-test.dup"');
  });

  it("lives on a globalThis symbol, so another copy of pool-core sees the same functions", () => {
    defineFunction("registry-test.shared", () => "x");
    const shared = (globalThis as Record<symbol, unknown>)[Symbol.for("flame-ts.functions")];
    expect(shared).toBeInstanceOf(Map);
    expect((shared as Map<string, unknown>).has("registry-test.shared")).toBe(true);
  });

  it("refuses an empty id", () => {
    expect(() => defineFunction("", () => 1)).toThrow(FlameError);
  });
});
