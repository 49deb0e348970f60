/**
 * The sliced v8 reader (protocol/v8-slices.ts) gives what `v8Codec.decode` gives, whatever the
 * budget per slice, and refuses bad bytes with an error instead of a partial value.
 */

import { serialize } from "node:v8";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { v8Codec } from "../../src/protocol/codec.js";
import { startV8Decode } from "../../src/protocol/v8-slices.js";

function sliced(bytes: Uint8Array, budget: number): { value: unknown; slices: number } {
  const decode = startV8Decode(bytes);
  let slices = 1;
  while (!decode.step(budget)) slices++;
  return { value: decode.value, slices };
}

function sample(): unknown {
  const shared = { shared: true };
  const cyclic: Record<string, unknown> = { name: "cycle" };
  cyclic.self = cyclic;
  const holey: unknown[] = [1];
  holey[2] = 3;
  const withProps = Object.assign([1, 2], { extra: "x" });
  const proto = JSON.parse('{"__proto__": {"polluted": true}}');
  const cause = new RangeError("inner");
  return {
    primitives: [undefined, null, true, false, 0, -1, 2 ** 31, -(2 ** 31), 1.5, Number.NaN, -0],
    strings: ["", "ascii", "é latin1", "€ two-byte", "😀 astral", "x".repeat(70_000)],
    bigints: [0n, 1n, -1n, 2n ** 64n + 3n, -(2n ** 130n)],
    dates: [new Date(0), new Date(8.64e15)],
    wrappers: [Object(true), Object(false), Object(1.25), Object("s"), Object(5n)],
    regexps: [/a+b/gi, /x/msuy, /d/dg],
    maps: new Map<unknown, unknown>([
      [1, "one"],
      [{ k: 1 }, [2]],
    ]),
    sets: new Set([1, "two", shared]),
    views: [
      new Uint8Array([1, 2, 3]),
      new Int16Array([-1, 2]),
      new Float64Array([1.5]),
      new BigInt64Array([-3n]),
      Buffer.from("buffer"),
      new DataView(new Uint8Array([9, 8]).buffer),
      new Uint8ClampedArray([255]),
    ],
    arrayBuffer: new Uint8Array([4, 5]).buffer,
    errors: [new Error("plain"), new TypeError("typed", { cause }), cause],
    shared: [shared, shared],
    cyclic,
    holey,
    sparse: Object.assign(new Array(1_000), { 500: "mid" }),
    withProps,
    proto,
    numericKeys: { 1: "a", 4294967295: "b", "-1": "c" },
  };
}

describe("startV8Decode", () => {
  it.each([1, 7, 1_000, 1e9])(
    "reads what v8Codec.decode reads, with budget %i per slice",
    (budget) => {
      const bytes = serialize(sample());
      const expected = v8Codec.decode(bytes) as Record<string, unknown>;
      const { value } = sliced(bytes, budget);
      expect(value).toEqual(expected);
      const got = value as typeof expected;
      // What toEqual does not look at: stacks, causes, shared identity, own __proto__, holes.
      const errors = got.errors as Error[];
      expect(errors.map((e) => e.stack)).toEqual((expected.errors as Error[]).map((e) => e.stack));
      expect(errors[1]?.cause).toBe(errors[2]);
      expect(errors[1]).toBeInstanceOf(TypeError);
      const shared = got.shared as object[];
      expect(shared[0]).toBe(shared[1]);
      expect((got.sets as Set<unknown>).has(shared[0])).toBe(true);
      const cyclic = got.cyclic as Record<string, unknown>;
      expect(cyclic.self).toBe(cyclic);
      expect(Object.getPrototypeOf(got.proto)).toBe(Object.prototype);
      expect(Object.hasOwn(got.proto as object, "__proto__")).toBe(true);
      expect(1 in (got.holey as unknown[])).toBe(false);
      expect(Object.is((got.primitives as unknown[])[10], -0)).toBe(true);
      const views = got.views as ArrayBufferView[];
      expect(Buffer.isBuffer(views[4])).toBe(true);
      expect(views[0]?.buffer.byteLength).toBe(3);
    },
  );

  it("spreads a value of many objects over many slices", () => {
    const bytes = serialize(Array.from({ length: 100_000 }, () => ({})));
    const { value, slices } = sliced(bytes, 1_000);
    expect((value as unknown[]).length).toBe(100_000);
    expect(slices).toBeGreaterThanOrEqual(100);
  });

  it("agrees with v8Codec.decode on arbitrary values", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: false,
          withObjectString: true,
          withBoxedValues: true,
        }),
        fc.integer({ min: 1, max: 50 }),
        (value, budget) => {
          const bytes = serialize(value);
          expect(sliced(bytes, budget).value).toEqual(v8Codec.decode(bytes));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses truncated or foreign bytes with an error, never a partial value", () => {
    const bytes = serialize({ a: [1, 2, 3], b: "text" });
    for (let end = 0; end < bytes.byteLength; end++) {
      expect(() => sliced(bytes.subarray(0, end), 1e9)).toThrow();
    }
    expect(() => sliced(Buffer.from([0xff, 0x0f, 0x56]), 1e9)).toThrow(/tag 0x56/);
    expect(() => sliced(Buffer.from([0xff, 0x63, 0x5f]), 1e9)).toThrow(/version 99/);
    expect(() => sliced(Buffer.from([0xff, 0x0f, 0x5e, 0x00]), 1e9)).toThrow(/reference/);
  });
});
