/**
 * The layout of work frames (`call`, `cast`, `child.start`), the hot messages: a small fixed
 * binary envelope, then the codec's encoding of the input, unwrapped.
 *
 *   bytes 0..7    frame header (frame.ts)
 *   byte  8       flags: bit 0 = timeoutMs present, bit 1 = traceparent present,
 *                 bit 2 = pinned (calls only: `on` and `onIndex` follow the key)
 *   bytes 9..10   fn length in UTF-8 bytes, uint16 big-endian
 *   bytes 11..12  traceparent length in bytes, uint16 big-endian (0 when absent)
 *   bytes 13..20  timeoutMs, float64 big-endian (0 when absent)
 *   byte  21      attempt, uint8 (1 = the first; a retry after a runner loss counts up)
 *   byte  22      idempotency key length in UTF-8 bytes, uint8 (0 = none: the runner makes one)
 *   then          fn (UTF-8), traceparent (UTF-8), key (UTF-8), `on` and `onIndex` (uint32
 *                 big-endian each, when pinned), then the input bytes to the frame's end
 *
 * Why not the codec for the envelope too, like every other message: the input is already
 * bytes (the parent encodes it once, at call time), and wrapping bytes in a v8 document costs
 * a serializer with a JavaScript callback per frame on the parent and a second deserializer
 * plus a copy on the runner. Measured on the call-path bench (threads and inline, 2 cores),
 * these were the largest per-call costs after the thread hop. With this layout the parent
 * writes a call with one serializer and the runner's main thread reads it with no decoder.
 */
import { FlameError } from "../errors.js";
import type { Codec } from "./codec.js";
import type { ParentToRunner } from "./messages.js";

export type WorkMessage = Extract<ParentToRunner, { t: "call" | "cast" | "child.start" }>;

/** A work message's fields but its input (the parent's hot path encodes the input into the frame). */
export interface WorkEnvelope {
  readonly t: WorkMessage["t"];
  readonly id: number;
  readonly fn: string;
  /** Calls only; ignored for casts and children. */
  readonly timeoutMs: number | null;
  readonly traceparent: string | undefined;
  /** The call's key, the same on every attempt; absent: the runner makes one (no retry). */
  readonly idempotencyKey?: string | undefined;
  /** 1 (the default) for the first attempt, 2 for the first retry, … */
  readonly attempt?: number | undefined;
  /** Calls only: pinned to the tracked resources of call `on` (its id on this link). */
  readonly on?: number | undefined;
  /** With `on`: which of its values is `ctx.resource` (0 when absent). */
  readonly onIndex?: number | undefined;
}

const HAS_TIMEOUT = 1;
const HAS_TRACEPARENT = 2;
const PINNED = 4;
const ENVELOPE_BYTES = 15;
/** `on` and `onIndex`, uint32 each. */
const ON_BYTES = 8;
/** fn and traceparent lengths travel as uint16. */
const MAX_STRING_BYTES = 0xffff;
/** The key's length and the attempt travel as uint8 (LIMITS.idempotencyKey; ≤ 101 attempts). */
const MAX_KEY_BYTES = 0xff;
const MAX_ATTEMPT = 0xff;

/** The work envelope's bytes after the 8-byte frame header (everything but the input). */
function encodeWorkEnvelope(
  header: Uint8Array,
  fn: string,
  timeoutMs: number | null,
  work: Pick<WorkEnvelope, "traceparent" | "idempotencyKey" | "attempt" | "on" | "onIndex">,
): Buffer {
  const { traceparent, idempotencyKey, attempt = 1, on, onIndex = 0 } = work;
  const fnBytes = Buffer.byteLength(fn);
  const tpBytes = traceparent === undefined ? 0 : Buffer.byteLength(traceparent);
  const keyBytes = idempotencyKey === undefined ? 0 : Buffer.byteLength(idempotencyKey);
  if (fnBytes > MAX_STRING_BYTES || tpBytes > MAX_STRING_BYTES) {
    throw new FlameError(
      "PROTOCOL",
      `A function id or traceparent of over ${MAX_STRING_BYTES} bytes can't be sent; use a shorter function id.`,
    );
  }
  // The pool's options keep both in range (LIMITS.idempotencyKey, retry.runnerDown ≤ 100).
  if (keyBytes > MAX_KEY_BYTES || !(attempt >= 1 && attempt <= MAX_ATTEMPT)) {
    throw new FlameError(
      "PROTOCOL",
      `An idempotency key of over ${MAX_KEY_BYTES} bytes or an attempt outside 1..${MAX_ATTEMPT} can't be sent; use a shorter key.`,
    );
  }
  const pinned = on !== undefined;
  const prefix = Buffer.allocUnsafe(
    header.byteLength + ENVELOPE_BYTES + fnBytes + tpBytes + keyBytes + (pinned ? ON_BYTES : 0),
  );
  prefix.set(header, 0);
  let at = header.byteLength;
  prefix[at] =
    (timeoutMs === null ? 0 : HAS_TIMEOUT) |
    (traceparent === undefined ? 0 : HAS_TRACEPARENT) |
    (pinned ? PINNED : 0);
  prefix.writeUInt16BE(fnBytes, at + 1);
  prefix.writeUInt16BE(tpBytes, at + 3);
  prefix.writeDoubleBE(timeoutMs ?? 0, at + 5);
  prefix[at + 13] = attempt;
  prefix[at + 14] = keyBytes;
  at += ENVELOPE_BYTES;
  at += prefix.write(fn, at, "utf8");
  if (traceparent !== undefined) at += prefix.write(traceparent, at, "utf8");
  if (idempotencyKey !== undefined) at += prefix.write(idempotencyKey, at, "utf8");
  if (pinned) {
    prefix.writeUInt32BE(on, at);
    prefix.writeUInt32BE(onIndex, at + 4);
  }
  return prefix;
}

/** A whole work frame whose input is already encoded (`args` bytes are copied in). */
export function encodeWorkFrame(header: Uint8Array, msg: WorkMessage): Buffer {
  const timeoutMs = msg.t === "call" ? msg.timeoutMs : null;
  const prefix = encodeWorkEnvelope(header, msg.fn, timeoutMs, {
    traceparent: msg.traceparent,
    idempotencyKey: msg.idempotencyKey,
    attempt: msg.attempt,
    on: msg.t === "call" ? msg.on : undefined,
    onIndex: msg.t === "call" ? msg.onIndex : undefined,
  });
  const frame = Buffer.allocUnsafe(prefix.byteLength + msg.args.byteLength);
  frame.set(prefix, 0);
  frame.set(msg.args, prefix.byteLength);
  return frame;
}

/**
 * A whole work frame, encoding `input` with the codec straight after the envelope (one buffer,
 * no copy of the input): what the parent sends for each call.
 */
export function encodeWorkFrameOf(
  header: Uint8Array,
  work: WorkEnvelope,
  input: unknown,
  codec: Codec,
): Uint8Array {
  const timeoutMs = work.t === "call" ? work.timeoutMs : null;
  const prefix = encodeWorkEnvelope(header, work.fn, timeoutMs, work);
  if (codec.encodeAfter !== undefined) return codec.encodeAfter(prefix, input);
  const bytes = codec.encode(input);
  const frame = Buffer.allocUnsafe(prefix.byteLength + bytes.byteLength);
  frame.set(prefix, 0);
  frame.set(bytes, prefix.byteLength);
  return frame;
}

/**
 * Reads a work frame's envelope (header already checked). A string says what is malformed.
 * `args` is a view into `bytes` (no copy): the runner decodes it at once (inline) or copies it
 * into the batch for its thread, which then owns it (runner-agent/src/executor/batch.ts). The
 * codec copies every binary value out when decoding, so no function ever sees the received
 * chunk (and the frames around this one) through an input's `.buffer`.
 */
export function decodeWorkFrame(
  t: WorkMessage["t"],
  id: number,
  bytes: Uint8Array,
  headerBytes: number,
): WorkMessage | string {
  const start = headerBytes;
  if (bytes.byteLength < start + ENVELOPE_BYTES) return "the envelope is cut short";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint8(start);
  if ((flags & ~(HAS_TIMEOUT | HAS_TRACEPARENT | PINNED)) !== 0) return `unknown flags ${flags}`;
  const pinned = (flags & PINNED) !== 0;
  if (pinned && t !== "call") return `a ${t} can't be pinned`;
  const fnBytes = view.getUint16(start + 1);
  const tpBytes = view.getUint16(start + 3);
  const timeout = view.getFloat64(start + 5);
  const attempt = view.getUint8(start + 13);
  const keyBytes = view.getUint8(start + 14);
  if (attempt === 0) return "attempt 0 (attempts count from 1)";
  const fnAt = start + ENVELOPE_BYTES;
  const keyAt = fnAt + fnBytes + tpBytes;
  const onAt = keyAt + keyBytes;
  const argsAt = onAt + (pinned ? ON_BYTES : 0);
  if (argsAt > bytes.byteLength) return "fn, traceparent, key and on run past the frame's end";
  if ((flags & HAS_TRACEPARENT) === 0 && tpBytes !== 0) return "traceparent bytes without its flag";
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fn = text.toString("utf8", fnAt, fnAt + fnBytes);
  const args = new Uint8Array(bytes.buffer, bytes.byteOffset + argsAt, bytes.byteLength - argsAt);
  let msg: Mutable<WorkMessage>;
  if (t === "call") {
    const timeoutMs = (flags & HAS_TIMEOUT) === 0 ? null : timeout;
    if (timeoutMs !== null && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return "timeoutMs must be a non-negative number or null";
    }
    msg = { t, id, fn, args, timeoutMs };
  } else {
    if ((flags & HAS_TIMEOUT) !== 0) return `a ${t} carries no timeoutMs`;
    msg = { t, id, fn, args };
  }
  if ((flags & HAS_TRACEPARENT) !== 0)
    msg.traceparent = text.toString("utf8", fnAt + fnBytes, keyAt);
  // Left out when they say nothing (no key, a first attempt), as the parent's message does.
  if (keyBytes !== 0) msg.idempotencyKey = text.toString("utf8", keyAt, onAt);
  if (attempt !== 1) msg.attempt = attempt;
  if (pinned) {
    const call = msg as Mutable<Extract<WorkMessage, { t: "call" }>>;
    call.on = view.getUint32(onAt);
    call.onIndex = view.getUint32(onAt + 4);
  }
  return msg;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
