import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { v8Codec } from "../../src/protocol/codec.js";
import {
  decodeFrame,
  encodeFrame,
  encodeRequestFrame,
  FRAME_HEADER_BYTES,
} from "../../src/protocol/frame.js";
import type { AnyMessage } from "../../src/protocol/messages.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";

const MAX = 1024 * 1024;

/** A call's input as it travels: the codec's bytes. */
const bytes = (value: unknown): Uint8Array => new Uint8Array(v8Codec.encode(value));

function roundTrip(msg: AnyMessage): AnyMessage {
  const decoded = decodeFrame(encodeFrame(msg, v8Codec, MAX), v8Codec, MAX);
  if (!decoded.ok) throw new Error(`decode failed: ${decoded.message}`);
  return decoded.msg;
}

function thrown(fn: () => unknown): FlameError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlameError) return err;
    throw err;
  }
  throw new Error("expected a throw");
}

describe("v8 codec", () => {
  it("keeps Date, Map, Set, BigInt, typed arrays and Error across the wire", () => {
    const error = new RangeError("out of range");
    const value = {
      when: new Date(1_700_000_000_123),
      index: new Map<string, number>([["a", 1]]),
      tags: new Set(["x", "y"]),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 255]),
      floats: new Float64Array([1.5, -0]),
      error,
      nested: [undefined, null, Number.NaN],
    };
    const msg = roundTrip({ t: "result", id: 9, ok: true, value });
    if (msg.t !== "result" || !msg.ok) throw new Error("wrong message");
    const out = msg.value as typeof value;
    expect(out.when).toBeInstanceOf(Date);
    expect(out.when.getTime()).toBe(1_700_000_000_123);
    expect(out.index).toBeInstanceOf(Map);
    expect(out.index.get("a")).toBe(1);
    expect(out.tags).toEqual(new Set(["x", "y"]));
    expect(out.big).toBe(2n ** 70n);
    expect(out.bytes).toBeInstanceOf(Uint8Array);
    expect([...out.bytes]).toEqual([1, 2, 255]);
    expect(out.floats).toBeInstanceOf(Float64Array);
    expect(Object.is(out.floats[1], -0)).toBe(true);
    expect(out.error).toBeInstanceOf(RangeError);
    expect(out.error.message).toBe("out of range");
    expect(out.error.stack).toBe(error.stack);
    expect(out.nested[0]).toBeUndefined();
    expect(out.nested[2]).toBeNaN();
  });
});

describe("frames", () => {
  const samples: AnyMessage[] = [
    {
      t: "hello",
      runnerId: "r",
      protocol: PROTOCOL_VERSION,
      functions: ["a", "b"],
      agentVersion: "0.1.0",
      pid: 1,
      host: "h",
      threads: 2,
    },
    { t: "welcome", runnerId: "r" },
    {
      t: "call",
      id: 1,
      fn: "f",
      args: bytes({ x: 1 }),
      timeoutMs: 123,
      traceparent: "00-ab-cd-01",
    },
    { t: "call", id: 4_294_967_294, fn: "f", args: bytes(null), timeoutMs: null },
    { t: "cast", id: 2, fn: "f", args: bytes([1]) },
    { t: "cancel", id: 3 },
    { t: "child.start", id: 4, fn: "c", args: bytes("x") },
    { t: "child.stop", id: 4 },
    { t: "shutdown", reason: "idle", timeoutMs: 100 },
    { t: "shutdown", reason: "single_use" },
    { t: "result", id: 5, ok: false, error: { code: "TIMEOUT", name: "FlameError", message: "m" } },
    { t: "cast.done", id: 6, ok: true },
    {
      t: "cast.done",
      id: 6,
      ok: false,
      error: { code: "ABORTED", name: "FlameError", message: "m" },
      answeredEarly: true,
    },
    { t: "result", id: 8, ok: true, value: undefined },
    {
      t: "child.exit",
      id: 9,
      ok: false,
      error: { code: "X", name: "E", message: "m", stack: "s" },
    },
    { t: "child.exit", id: 7, ok: true, value: 1n },
    { t: "error", id: null, code: "PROTOCOL", message: "bad" },
  ];

  it("round-trips every message type unchanged", () => {
    for (const msg of samples) expect(roundTrip(msg)).toEqual(msg);
  });

  it("refuses an unencodable value with SERIALIZATION before producing a frame", () => {
    const err = thrown(() =>
      encodeFrame({ t: "result", id: 1, ok: true, value: { cb: () => 1 } }, v8Codec, MAX),
    );
    expect(err.code).toBe("SERIALIZATION");
    expect(err.message).toContain("result");
  });

  it("refuses a frame over maxFrameBytes with SERIALIZATION naming both sizes", () => {
    const args = new Uint8Array(5000);
    const err = thrown(() =>
      encodeFrame({ t: "call", id: 1, fn: "f", args, timeoutMs: null }, v8Codec, 4096),
    );
    expect(err.code).toBe("SERIALIZATION");
    expect(err.message).toMatch(/encodes to \d+ bytes, over the 4096-byte frame limit/);
  });

  it("answers an oversize frame on receipt with its call id", () => {
    const frame = encodeFrame(
      { t: "call", id: 77, fn: "f", args: new Uint8Array(5000), timeoutMs: null },
      v8Codec,
      MAX,
    );
    const decoded = decodeFrame(frame, v8Codec, 4096);
    expect(decoded).toMatchObject({ ok: false, id: 77, t: "call", code: "SERIALIZATION" });
  });

  it("keeps the id and kind when the payload cannot be decoded", () => {
    const frame = encodeFrame({ t: "result", id: 42, ok: true, value: 1 }, v8Codec, MAX);
    frame.fill(0xff, FRAME_HEADER_BYTES + 1); // the flags byte (answer-frame.ts) stays
    const decoded = decodeFrame(frame, v8Codec);
    expect(decoded).toMatchObject({ ok: false, id: 42, t: "result", code: "SERIALIZATION" });
  });

  it("keeps the id and kind of a work frame cut short or with a bad deadline", () => {
    const frame = encodeFrame(
      { t: "call", id: 42, fn: "resize", args: bytes(1), timeoutMs: 5 },
      v8Codec,
      MAX,
    );
    const cut = decodeFrame(frame.subarray(0, FRAME_HEADER_BYTES + 4), v8Codec);
    expect(cut).toMatchObject({ ok: false, id: 42, t: "call", code: "PROTOCOL" });
    // timeoutMs is the float64 at bytes 13..20 of the frame (work-frame.ts).
    frame.writeDoubleBE(-1, FRAME_HEADER_BYTES + 5);
    const negative = decodeFrame(frame, v8Codec);
    expect(negative).toMatchObject({ ok: false, id: 42, code: "PROTOCOL" });
    if (!negative.ok) expect(negative.message).toContain("timeoutMs");
  });

  it("refuses to encode a work message with a wrong field, naming it", () => {
    const bad = { t: "call", id: 3, fn: 12, args: bytes(1), timeoutMs: null };
    const err = thrown(() => encodeFrame(bad as unknown as AnyMessage, v8Codec, MAX));
    expect(err.code).toBe("PROTOCOL");
    expect(err.message).toContain("fn must be a string");
    const badDeadline = { t: "call", id: 3, fn: "f", args: bytes(1), timeoutMs: "soon" };
    expect(thrown(() => encodeFrame(badDeadline as unknown as AnyMessage, v8Codec, MAX)).code).toBe(
      "PROTOCOL",
    );
  });

  it("writes a call's input once, straight into the frame, and reads it back as bytes of its own", () => {
    const input = { id: "photo-1", sizes: [64, 128], when: new Date(5) };
    const direct = encodeRequestFrame(
      { t: "call", id: 9, fn: "thumbnail", timeoutMs: 1500, traceparent: "00-ab-cd-01" },
      input,
      v8Codec,
      MAX,
    );
    const viaBytes = encodeFrame(
      {
        t: "call",
        id: 9,
        fn: "thumbnail",
        args: bytes(input),
        timeoutMs: 1500,
        traceparent: "00-ab-cd-01",
      },
      v8Codec,
      MAX,
    );
    expect(Buffer.compare(direct, viaBytes)).toBe(0);
    // Two frames in one received chunk: the decoded input is the call's bytes only, and a
    // binary value decoded from it does not expose the neighbouring frame.
    const chunk = Buffer.concat([direct, viaBytes]);
    const decoded = decodeFrame(chunk.subarray(0, direct.byteLength), v8Codec, MAX);
    if (!decoded.ok || decoded.msg.t !== "call") throw new Error("expected a call");
    expect(Buffer.from(decoded.msg.args)).toEqual(Buffer.from(bytes(input)));
    expect(v8Codec.decode(decoded.msg.args)).toEqual(input);
    const withBytes = encodeRequestFrame(
      { t: "call", id: 10, fn: "f", timeoutMs: null, traceparent: undefined },
      new Uint8Array([1, 2, 3]),
      v8Codec,
      MAX,
    );
    const two = Buffer.concat([withBytes, direct]);
    const first = decodeFrame(two.subarray(0, withBytes.byteLength), v8Codec, MAX);
    if (!first.ok || first.msg.t !== "call") throw new Error("expected a call");
    const value = v8Codec.decode(first.msg.args) as Uint8Array;
    expect([...value]).toEqual([1, 2, 3]);
    expect(value.buffer.byteLength).toBe(3);
    expect(decoded.msg).toMatchObject({
      fn: "thumbnail",
      timeoutMs: 1500,
      traceparent: "00-ab-cd-01",
    });
  });

  it("refuses an unencodable input with SERIALIZATION naming the function", () => {
    const err = thrown(() =>
      encodeRequestFrame(
        { t: "cast", id: 1, fn: "notify", timeoutMs: null, traceparent: undefined },
        { cb: () => 1 },
        v8Codec,
        MAX,
      ),
    );
    expect(err.code).toBe("SERIALIZATION");
    expect(err.message).toContain('"notify"');
  });

  it("rejects a header that disagrees with its payload", () => {
    const frame = encodeFrame({ t: "cancel", id: 5 }, v8Codec, MAX);
    frame.writeUInt32BE(6, 4);
    expect(decodeFrame(frame, v8Codec)).toMatchObject({ ok: false, id: 6, code: "PROTOCOL" });
  });

  it("refuses a hello that does not say how many threads run its functions (protocol 9)", () => {
    const hello = { t: "hello", runnerId: "r", protocol: PROTOCOL_VERSION, functions: [] };
    const base = { ...hello, agentVersion: "1", pid: 1, host: "h" };
    for (const threads of [undefined, 0, 1.5]) {
      const frame = encodeFrame({ ...base, threads } as unknown as AnyMessage, v8Codec, MAX);
      const decoded = decodeFrame(frame, v8Codec);
      expect(decoded).toMatchObject({ ok: false, code: "PROTOCOL" });
      if (!decoded.ok) expect(decoded.message).toContain("threads must be an integer ≥ 1");
    }
  });

  it("rejects another protocol version and a bad magic byte", () => {
    const frame = encodeFrame({ t: "cancel", id: 5 }, v8Codec, MAX);
    frame[1] = PROTOCOL_VERSION + 1;
    const other = decodeFrame(frame, v8Codec);
    expect(other).toMatchObject({ ok: false, code: "PROTOCOL" });
    if (!other.ok) expect(other.message).toContain("protocol version");
    frame[0] = 0;
    expect(decodeFrame(frame, v8Codec)).toMatchObject({ ok: false, id: null, code: "PROTOCOL" });
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const decoded = decodeFrame(bytes, v8Codec, MAX);
        expect(typeof decoded.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on mutated valid frames, and only yields well-formed messages", () => {
    const frames = samples.map((m) => encodeFrame(m, v8Codec, MAX));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: frames.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.option(fc.nat(), { nil: undefined }),
        (which, edits, truncateAt) => {
          const frame = Buffer.from(frames[which]!);
          for (const [at, byte] of edits) frame[at % frame.length] = byte;
          const bytes =
            truncateAt === undefined ? frame : frame.subarray(0, truncateAt % (frame.length + 1));
          const decoded = decodeFrame(bytes, v8Codec, MAX);
          if (decoded.ok) {
            expect(typeof decoded.msg.t).toBe("string");
          } else {
            expect(["PROTOCOL", "SERIALIZATION"]).toContain(decoded.code);
            expect(decoded.message.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
