/**
 * The layout of work frames (`call`, `cast`, `child.start`), the hot messages: a small fixed
 * binary envelope, then the codec's encoding of the input, unwrapped.
 *
 *   bytes 0..7    frame header (frame.ts)
 *   byte  8       flags: bit 0 = timeoutMs present, bit 1 = traceparent present
 *   bytes 9..10   fn length in UTF-8 bytes, uint16 big-endian
 *   bytes 11..12  traceparent length in bytes, uint16 big-endian (0 when absent)
 *   bytes 13..20  timeoutMs, float64 big-endian (0 when absent)
 *   then          fn (UTF-8), traceparent (UTF-8), then the input bytes to the frame's end
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
}

const HAS_TIMEOUT = 1;
const HAS_TRACEPARENT = 2;
const ENVELOPE_BYTES = 13;
/** fn and traceparent lengths travel as uint16. */
const MAX_STRING_BYTES = 0xffff;

/** The work envelope's bytes after the 8-byte frame header (everything but the input). */
function encodeWorkEnvelope(
  header: Uint8Array,
  fn: string,
  timeoutMs: number | null,
  traceparent: string | undefined,
): Buffer {
  const fnBytes = Buffer.byteLength(fn);
  const tpBytes = traceparent === undefined ? 0 : Buffer.byteLength(traceparent);
  if (fnBytes > MAX_STRING_BYTES || tpBytes > MAX_STRING_BYTES) {
    throw new FlameError(
      "PROTOCOL",
      `A function id or traceparent of over ${MAX_STRING_BYTES} bytes can't be sent; use a shorter function id.`,
    );
  }
  const prefix = Buffer.allocUnsafe(header.byteLength + ENVELOPE_BYTES + fnBytes + tpBytes);
  prefix.set(header, 0);
  let at = header.byteLength;
  prefix[at] =
    (timeoutMs === null ? 0 : HAS_TIMEOUT) | (traceparent === undefined ? 0 : HAS_TRACEPARENT);
  prefix.writeUInt16BE(fnBytes, at + 1);
  prefix.writeUInt16BE(tpBytes, at + 3);
  prefix.writeDoubleBE(timeoutMs ?? 0, at + 5);
  at += ENVELOPE_BYTES;
  at += prefix.write(fn, at, "utf8");
  if (traceparent !== undefined) prefix.write(traceparent, at, "utf8");
  return prefix;
}

/** A whole work frame whose input is already encoded (`args` bytes are copied in). */
export function encodeWorkFrame(header: Uint8Array, msg: WorkMessage): Buffer {
  const timeoutMs = msg.t === "call" ? msg.timeoutMs : null;
  const prefix = encodeWorkEnvelope(header, msg.fn, timeoutMs, msg.traceparent);
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
  const prefix = encodeWorkEnvelope(header, work.fn, timeoutMs, work.traceparent);
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
  if ((flags & ~(HAS_TIMEOUT | HAS_TRACEPARENT)) !== 0) return `unknown flags ${flags}`;
  const fnBytes = view.getUint16(start + 1);
  const tpBytes = view.getUint16(start + 3);
  const timeout = view.getFloat64(start + 5);
  const fnAt = start + ENVELOPE_BYTES;
  const argsAt = fnAt + fnBytes + tpBytes;
  if (argsAt > bytes.byteLength) return "fn and traceparent run past the frame's end";
  if ((flags & HAS_TRACEPARENT) === 0 && tpBytes !== 0) return "traceparent bytes without its flag";
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fn = text.toString("utf8", fnAt, fnAt + fnBytes);
  const args = new Uint8Array(bytes.buffer, bytes.byteOffset + argsAt, bytes.byteLength - argsAt);
  const traceparent =
    (flags & HAS_TRACEPARENT) === 0 ? undefined : text.toString("utf8", fnAt + fnBytes, argsAt);
  if (t === "call") {
    const timeoutMs = (flags & HAS_TIMEOUT) === 0 ? null : timeout;
    if (timeoutMs !== null && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return "timeoutMs must be a non-negative number or null";
    }
    return traceparent === undefined
      ? { t, id, fn, args, timeoutMs }
      : { t, id, fn, args, timeoutMs, traceparent };
  }
  if ((flags & HAS_TIMEOUT) !== 0) return `a ${t} carries no timeoutMs`;
  return traceparent === undefined ? { t, id, fn, args } : { t, id, fn, args, traceparent };
}
