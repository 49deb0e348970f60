/**
 * The hand-written v8 writer (protocol/v8-writer.ts) writes what V8's serializer writes for
 * small plain data, and hands everything else to V8: `v8Codec` encodes every value as before.
 */

import { DefaultSerializer, deserialize, serialize } from "node:v8";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { v8Codec } from "../../src/protocol/codec.js";
import {
  MAX_ARRAY_LENGTH,
  MAX_OBJECTS,
  MAX_WRITTEN_BYTES,
  writePlainValue,
} from "../../src/protocol/v8-writer.js";

const NONE = new Uint8Array(0);

/** What V8 writes for `value` after `prefix`, as v8Codec did before the writer. */
function byV8(prefix: Uint8Array, value: unknown): Buffer {
  const serializer = new DefaultSerializer();
  serializer.writeRawBytes(prefix);
  serializer.writeHeader();
  serializer.writeValue(value);
  return serializer.releaseBuffer();
}

function written(prefix: Uint8Array, value: unknown): Buffer {
  const bytes = writePlainValue(prefix, value);
  if (bytes === null) throw new Error(`the writer refused ${String(value)}`);
  return bytes;
}

/** Values V8 holds the canonical way (literals), so its bytes and the writer's must match. */
function canonical(): Record<string, unknown> {
  const shared = { shared: 1 };
  const cycle: Record<string, unknown> = { name: "cycle" };
  cycle.self = cycle;
  const selfArray: unknown[] = ["a"];
  selfArray.push(selfArray);
  return {
    undefined: undefined,
    null: null,
    true: true,
    false: false,
    zero: 0,
    negative: -1,
    int32Max: 2 ** 31 - 1,
    int32Min: -(2 ** 31),
    pastInt32: 2 ** 31,
    negativeZero: -0,
    fraction: 1.5,
    nan: Number.NaN,
    infinity: Number.POSITIVE_INFINITY,
    empty: "",
    ascii: "hello world",
    latin1: "é ü ß ÿ",
    twoByte: "€ euro",
    astral: "😀 astral",
    loneSurrogate: "\ud800x",
    twoByteTwice: ["€", "x€", "xx€"],
    object: { a: 1, b: "two", c: [3, { d: null }] },
    emptyObject: {},
    nullProto: Object.assign(Object.create(null), { x: 1 }),
    indexKeys: { "2": "two", "0": "zero", b: 1, "10": 10, "01": "not an index" },
    bigIndexKeys: { "4294967294": "largest index", "4294967295": "a string key" },
    negativeKey: { "-1": "a string key" },
    ownProto: JSON.parse('{"__proto__": {"polluted": true}}'),
    array: [1, "two", [3], {}, []],
    emptyArray: [],
    longestArray: Array.from({ length: MAX_ARRAY_LENGTH }, (_, i) => `item ${i}`),
    dates: [new Date(0), new Date(8.64e15), new Date(Number.NaN)],
    buffers: [Buffer.from("bytes"), Buffer.from("a pooled slice").subarray(2, 9), Buffer.alloc(0)],
    typedArrays: [
      new Uint8Array([1, 2, 3]).subarray(1),
      new Int8Array([-1]),
      new Uint8ClampedArray([255]),
      new Int16Array([-2, 2]),
      new Uint16Array([65535]),
      new Int32Array([-(2 ** 31)]),
      new Uint32Array([2 ** 32 - 1]),
      new Float32Array([1.5]),
      new Float64Array([-0, Number.NaN]).subarray(1),
      new BigInt64Array([-1n]),
      new BigUint64Array([2n ** 64n - 1n]),
      new DataView(new ArrayBuffer(8), 2, 4),
    ],
    sharedView: (() => {
      const bytes = new Uint8Array([9]);
      return [bytes, bytes];
    })(),
    sharedTwice: [shared, shared, { again: shared }],
    cycle,
    selfArray,
  };
}

describe("writePlainValue", () => {
  it("writes V8's bytes for every plain value, after prefixes of odd and even length", () => {
    for (const prefix of [NONE, new Uint8Array([7]), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])]) {
      for (const [name, value] of Object.entries(canonical())) {
        expect(written(prefix, value), name).toEqual(byV8(prefix, value));
      }
      expect(written(prefix, canonical())).toEqual(byV8(prefix, canonical()));
    }
  });

  it("decodes to what V8's bytes decode to, for generated plain data", () => {
    const plain = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constantFrom(undefined, null, true, false),
        fc.double(),
        fc.integer(),
        fc.string({ unit: "binary" }),
        fc.date({ noInvalidDate: false }),
        fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
        fc.float64Array({ maxLength: 4 }),
        fc.int16Array({ maxLength: 4 }),
        fc.array(tie("value"), { maxLength: 5 }),
        fc.dictionary(fc.string({ unit: "binary" }), tie("value"), { maxKeys: 5 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9 }), plain, (prefix, value) => {
        const bytes = writePlainValue(prefix, value);
        if (bytes === null) return; // more than MAX_OBJECTS objects: V8 writes it
        const v8Bytes = byV8(prefix, value);
        expect(bytes.subarray(0, prefix.byteLength)).toEqual(Buffer.from(prefix));
        expect(deserialize(bytes.subarray(prefix.byteLength))).toStrictEqual(
          deserialize(v8Bytes.subarray(prefix.byteLength)),
        );
      }),
      { numRuns: 500, seed: 23 },
    );
  });

  it("leaves to V8 every value that is not small plain data", () => {
    const holey: unknown[] = [1];
    holey[2] = 3;
    const manyObjects = Array.from({ length: MAX_OBJECTS }, (_, i) => ({ i }));
    class Point {
      constructor(readonly x: number) {}
    }
    const refused: Record<string, unknown> = {
      map: new Map([[1, 2]]),
      set: new Set([1]),
      arrayBuffer: new ArrayBuffer(4),
      largeBuffer: Buffer.alloc(MAX_WRITTEN_BYTES),
      typedArraySubclass: new (class Bytes extends Uint8Array {})(2),
      notAView: Object.create(Uint8Array.prototype),
      bigint: 1n,
      regexp: /x/g,
      error: new Error("e"),
      boxed: Object(1),
      classInstance: new Point(1),
      proxy: new Proxy({ a: 1 }, {}),
      holey,
      arrayWithKeys: Object.assign([1, 2], { extra: "x" }),
      nested: { deep: { inside: new Map() } },
      manyObjects,
      longArray: Array.from({ length: MAX_ARRAY_LENGTH + 1 }, (_, i) => i),
      tooLarge: "x".repeat(MAX_WRITTEN_BYTES),
      symbol: Symbol("s"),
      fn: () => 1,
    };
    for (const [name, value] of Object.entries(refused)) {
      expect(writePlainValue(NONE, value), name).toBeNull();
    }
  });

  it("runs a getter once when it writes the value, and lets a getter's error through", () => {
    let reads = 0;
    const value = {
      get counted() {
        reads += 1;
        return reads;
      },
    };
    expect(deserialize(written(NONE, value))).toEqual({ counted: 1 });
    expect(reads).toBe(1);
    const failing = {
      get broken(): never {
        throw new RangeError("no");
      },
    };
    expect(() => writePlainValue(NONE, failing)).toThrow(RangeError);
  });

  it("skips a key a getter deleted before it was reached, as V8 does", () => {
    const value: Record<string, unknown> = {
      get first() {
        delete value.second;
        return 1;
      },
      second: 2,
      third: 3,
    };
    const bytes = written(NONE, value);
    expect(deserialize(bytes)).toEqual({ first: 1, third: 3 });
  });

  it("encodes a value a getter encodes while the writer runs, both correctly", () => {
    let inner: Uint8Array | null = null;
    const value = {
      get a() {
        inner = v8Codec.encode({ inner: [1, 2] });
        return "outer";
      },
      b: [true],
    };
    const outer = v8Codec.encode(value);
    expect(deserialize(outer)).toEqual({ a: "outer", b: [true] });
    expect(inner).not.toBeNull();
    expect(deserialize(inner as unknown as Uint8Array)).toEqual({ inner: [1, 2] });
  });
});

describe("v8Codec with the writer", () => {
  it("encodes every value as V8 does, the writer's or not", () => {
    const values = [
      ...Object.values(canonical()),
      new Map([[1, { a: 1 }]]),
      Buffer.from("abc"),
      { big: 2n ** 70n, list: [new Set(["s"])] },
      "x".repeat(MAX_WRITTEN_BYTES),
    ];
    for (const value of values) {
      expect(v8Codec.encode(value)).toEqual(serialize(value));
      const prefix = new Uint8Array([1, 2, 3]);
      expect(v8Codec.encodeAfter?.(prefix, value)).toEqual(byV8(prefix, value));
    }
  });

  it("fails on a view of a detached buffer as Node's serializer does", () => {
    const detach = (buffer: ArrayBuffer) => structuredClone(buffer, { transfer: [buffer] });
    const bytes = Buffer.from(new ArrayBuffer(4));
    const floats = new Float64Array(1);
    detach(bytes.buffer as ArrayBuffer);
    detach(floats.buffer);
    for (const view of [bytes, floats]) {
      expect(() => serialize(view)).toThrow(/detached/);
      expect(() => v8Codec.encode(view)).toThrow(/detached/);
    }
  });

  it("still refuses what V8 refuses, with V8's error", () => {
    expect(() => v8Codec.encode({ f: () => 1 })).toThrow(/could not be cloned/);
    expect(() => v8Codec.encodeAfter?.(NONE, [Symbol("s")])).toThrow(/could not be cloned/);
  });
});
