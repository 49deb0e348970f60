/**
 * Decoded binary values own their bytes: v8.deserialize returns views into the buffer it was
 * given, which for a received frame is a slice of the socket's chunk (neighbouring frames —
 * other calls' data — were readable through `.buffer`).
 */
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, v8Codec } from "../../src/protocol.js";

const SECRET = "NEIGHBOUR-FRAME-SECRET";

function insideBiggerChunk(bytes: Uint8Array): Uint8Array {
  const before = Buffer.from(SECRET);
  const after = Buffer.from(SECRET);
  const chunk = Buffer.concat([before, bytes, after]);
  return chunk.subarray(before.byteLength, before.byteLength + bytes.byteLength);
}

function exposes(view: ArrayBufferView): boolean {
  return Buffer.from(view.buffer).toString("latin1").includes(SECRET);
}

describe("v8 codec: binary values are copied out of the receive buffer", () => {
  it("Buffer, Uint8Array, Float64Array and DataView own exactly their bytes", () => {
    const value = {
      buf: Buffer.from("mine"),
      u8: new Uint8Array([1, 2, 3]),
      f64: new Float64Array([1.5, -2]),
      dv: new DataView(new Uint8Array([9, 8, 7, 6]).buffer),
    };
    const out = v8Codec.decode(insideBiggerChunk(v8Codec.encode(value))) as typeof value;
    expect(Buffer.isBuffer(out.buf)).toBe(true);
    expect(out.buf.toString()).toBe("mine");
    expect([...out.u8]).toEqual([1, 2, 3]);
    expect([...out.f64]).toEqual([1.5, -2]);
    expect(out.dv.getUint8(3)).toBe(6);
    for (const view of [out.buf, out.u8, out.f64, out.dv]) {
      expect(exposes(view)).toBe(false);
      expect(view.buffer.byteLength).toBe(view.byteLength);
    }
  });

  it("a result frame read from a shared chunk gives a value that shows no other frame", () => {
    const frame = encodeFrame(
      { t: "result", id: 7, ok: true, value: new Uint8Array([42, 43]) },
      v8Codec,
      1 << 20,
    );
    const decoded = decodeFrame(insideBiggerChunk(frame), v8Codec);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok || decoded.msg.t !== "result" || !decoded.msg.ok) return;
    const value = decoded.msg.value as Uint8Array;
    expect([...value]).toEqual([42, 43]);
    expect(exposes(value)).toBe(false);
  });
});

describe("v8 codec: decodeOwned, for a frame handed over whole (a large input on its thread)", () => {
  const decodeOwned = (bytes: Uint8Array): unknown => {
    if (v8Codec.decodeOwned === undefined) throw new Error("v8Codec has no decodeOwned");
    return v8Codec.decodeOwned(bytes);
  };

  it("leaves a binary value that fills most of the frame a view into it: no second copy", () => {
    const big = Buffer.alloc(100_000, "big");
    const frame = v8Codec.encode({ big, n: 1 });
    const out = decodeOwned(frame) as { big: Buffer; n: number };
    expect(Buffer.isBuffer(out.big)).toBe(true);
    expect(out.big.equals(big)).toBe(true);
    expect(out.big.buffer === frame.buffer).toBe(true);
    expect(out.n).toBe(1);
  });

  it("copies a binary value smaller than half the frame, so it does not keep the frame alive", () => {
    const frame = v8Codec.encode({
      small: new Uint8Array([1, 2, 3]),
      big: new Uint8Array(100_000).fill(9),
    });
    const out = decodeOwned(frame) as { small: Uint8Array; big: Uint8Array };
    expect([...out.small]).toEqual([1, 2, 3]);
    expect(out.small.buffer.byteLength).toBe(3);
    expect(out.big.buffer === frame.buffer).toBe(true);
  });

  it("decodes every value as decode does", () => {
    const value = {
      date: new Date(5),
      map: new Map([[1, "a"]]),
      bytes: new Uint8Array(70_000).fill(3),
      error: new RangeError("kept"),
    };
    const frame = v8Codec.encode(value);
    expect(decodeOwned(frame)).toEqual(v8Codec.decode(frame));
  });
});
