/**
 * Protocol 6: a work frame carries the call's attempt and idempotency key (ctx.attempt,
 * ctx.idempotencyKey), the same key on every retry of one call.
 */
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
import { LIMITS } from "../../src/wire/index.js";

const MAX = 1024 * 1024;
const bytes = (value: unknown): Uint8Array => new Uint8Array(v8Codec.encode(value));
const KEY = "3f1c9a52-0d7e-4c1b-9a55-2b6f0e0c1d2e";
/** Byte 21 of a work frame: the attempt; byte 22: the key's length (work-frame.ts). */
const ATTEMPT_AT = FRAME_HEADER_BYTES + 13;
const KEY_BYTES_AT = FRAME_HEADER_BYTES + 14;

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

describe("work frames: attempt and idempotency key", () => {
  it("carry both on every work kind, beside the traceparent and the input", () => {
    const messages: AnyMessage[] = [
      {
        t: "call",
        id: 1,
        fn: "charge",
        args: bytes({ cents: 100 }),
        timeoutMs: 2500,
        traceparent: "00-ab-cd-01",
        idempotencyKey: KEY,
        attempt: 3,
      },
      { t: "call", id: 2, fn: "f", args: bytes(null), timeoutMs: null, idempotencyKey: "ключ·🔑" },
      { t: "call", id: 3, fn: "f", args: bytes(1), timeoutMs: 1, attempt: 101 },
      { t: "cast", id: 4, fn: "f", args: bytes([1]), idempotencyKey: KEY },
      { t: "child.start", id: 5, fn: "c", args: bytes("x"), traceparent: "t", idempotencyKey: "k" },
    ];
    for (const msg of messages) expect(roundTrip(msg)).toStrictEqual(msg);
  });

  it("leave both out of the decoded message when they say nothing (no key, attempt 1)", () => {
    const msg: AnyMessage = { t: "call", id: 7, fn: "f", args: bytes(2), timeoutMs: null };
    const decoded = roundTrip({ ...msg, attempt: 1 });
    expect(decoded).toStrictEqual(msg);
    expect("idempotencyKey" in decoded).toBe(false);
  });

  it("are written the same way by the parent's hot path (the input encoded into the frame)", () => {
    const input = { cents: 100 };
    const work = { id: 9, fn: "charge", timeoutMs: 1500 } as const;
    const direct = encodeRequestFrame(
      { ...work, t: "call", traceparent: undefined, idempotencyKey: KEY, attempt: 2 },
      input,
      v8Codec,
      MAX,
    );
    const viaBytes = encodeFrame(
      { ...work, t: "call", args: bytes(input), idempotencyKey: KEY, attempt: 2 },
      v8Codec,
      MAX,
    );
    expect(Buffer.compare(direct, viaBytes)).toBe(0);
    const decoded = decodeFrame(direct, v8Codec, MAX);
    if (!decoded.ok || decoded.msg.t !== "call") throw new Error("expected a call");
    expect(decoded.msg).toMatchObject({ idempotencyKey: KEY, attempt: 2 });
    expect(v8Codec.decode(decoded.msg.args)).toEqual(input);
  });

  it("refuse a key longer than its length byte can say, or an attempt outside 1..255", () => {
    const work = { t: "call", id: 1, fn: "f", timeoutMs: null, traceparent: undefined } as const;
    const long = "k".repeat(256);
    expect(LIMITS.idempotencyKey.accepts(long)).toBe(false);
    expect(
      thrown(() => encodeRequestFrame({ ...work, idempotencyKey: long }, 1, v8Codec, MAX)),
    ).toMatchObject({ code: "PROTOCOL" });
    expect(
      thrown(() => encodeRequestFrame({ ...work, attempt: 0 }, 1, v8Codec, MAX)),
    ).toMatchObject({ code: "PROTOCOL" });
    expect(
      thrown(() => encodeRequestFrame({ ...work, attempt: 256 }, 1, v8Codec, MAX)),
    ).toMatchObject({ code: "PROTOCOL" });
  });

  it("decode a key that runs past the frame, or attempt 0, as a PROTOCOL error keeping the id", () => {
    const frame = encodeFrame(
      { t: "call", id: 42, fn: "f", args: new Uint8Array(0), timeoutMs: null },
      v8Codec,
      MAX,
    );
    const pastEnd = Buffer.from(frame);
    pastEnd[KEY_BYTES_AT] = 200;
    expect(decodeFrame(pastEnd, v8Codec)).toMatchObject({ ok: false, id: 42, code: "PROTOCOL" });
    const zero = Buffer.from(frame);
    zero[ATTEMPT_AT] = 0;
    expect(decodeFrame(zero, v8Codec)).toMatchObject({ ok: false, id: 42, code: "PROTOCOL" });
  });
});
