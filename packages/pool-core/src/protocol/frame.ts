/**
 * The frame: a fixed 8-byte header, then the codec's encoding of the whole message.
 *
 *   byte 0      magic 0xF1
 *   byte 1      protocol version (PROTOCOL_VERSION)
 *   byte 2      message kind (KINDS below)
 *   byte 3      reserved, 0
 *   bytes 4..7  call id, uint32 big-endian; 0xFFFFFFFF when the message has none
 *
 * The header is readable without the codec, so a frame whose payload can't be decoded (or is
 * too large, or has the wrong shape) still yields its kind and call id: the receiver fails
 * that one call and keeps the connection.
 *
 * Work frames (call, cast, child.start) and answer frames (result, cast.done, child.exit)
 * carry a binary envelope and the codec's bytes of the input / value instead of a codec-encoded
 * message: see work-frame.ts and answer-frame.ts.
 */
import { FlameError } from "../errors.js";
import { type AnswerMessage, decodeAnswerFrame, encodeAnswerFrame } from "./answer-frame.js";
import type { Codec } from "./codec.js";
import { type AnyMessage, PROTOCOL_VERSION } from "./messages.js";
import { SHAPE_CHECKS } from "./shape.js";
import {
  decodeWorkFrame,
  encodeWorkFrame,
  encodeWorkFrameOf,
  type WorkEnvelope,
  type WorkMessage,
} from "./work-frame.js";

const FRAME_MAGIC = 0xf1;
export const FRAME_HEADER_BYTES = 8;
const NO_ID = 0xffffffff;
/** Largest call id; ids wrap to 1 after it (0xFFFFFFFF means "no id"). */
export const MAX_CALL_ID = NO_ID - 1;

/** Header bytes of the frame being encoded; codecs copy them, so one buffer serves every frame. */
const HEADER_SCRATCH = new Uint8Array(FRAME_HEADER_BYTES);
const HEADER_VIEW = new DataView(HEADER_SCRATCH.buffer);

/** Kind numbers are part of the wire format: append only, never renumber. */
const KINDS = [
  "hello",
  "welcome",
  "call",
  "cast",
  "cancel",
  "child.start",
  "child.stop",
  "shutdown",
  "result",
  "cast.done",
  "child.exit",
  "error",
  "ended",
  "release",
  "released",
  "answer.part",
  "loading",
  "unqueue",
  "unqueued",
] as const;
type Kind = (typeof KINDS)[number];
const KIND_NUMBER = new Map<string, number>(KINDS.map((k, i) => [k, i + 1]));
/** The header's kind byte of one part of a large answer (answer-parts.ts). */
export const ANSWER_PART_KIND_NUMBER = KINDS.indexOf("answer.part") + 1;

export type FrameErrorCode = "PROTOCOL" | "SERIALIZATION";

export type DecodedFrame =
  | { readonly ok: true; readonly msg: AnyMessage }
  | {
      readonly ok: false;
      /** The call the frame belonged to, when the header could be read and had one. */
      readonly id: number | null;
      /** The message kind from the header, when it could be read. */
      readonly t: Kind | null;
      readonly code: FrameErrorCode;
      readonly message: string;
    };

/**
 * Encodes one message. Throws FlameError SERIALIZATION when the message can't be encoded or
 * the frame would exceed `maxFrameBytes`, so nothing is ever half-sent.
 */
export function encodeFrame(msg: AnyMessage, codec: Codec, maxFrameBytes: number): Buffer {
  const kind = KIND_NUMBER.get(msg.t);
  if (kind === undefined) {
    throw new FlameError("PROTOCOL", `Unknown message type "${String(msg.t)}".`);
  }
  writeHeader(kind, "id" in msg && typeof msg.id === "number" ? msg.id : NO_ID);
  if (isWork(msg)) {
    // No codec pass to catch a wrong field here: check the shape before writing bytes.
    const problem = SHAPE_CHECKS[msg.t]?.(msg as unknown as Record<string, unknown>) ?? null;
    if (problem !== null) throw new FlameError("PROTOCOL", `Malformed ${msg.t}: ${problem}.`);
    return withinLimit(encodeWorkFrame(HEADER_SCRATCH, msg), msg, maxFrameBytes);
  }
  let frame: Buffer;
  try {
    if (isAnswer(msg)) {
      const problem = SHAPE_CHECKS[msg.t]?.(msg as unknown as Record<string, unknown>) ?? null;
      if (problem !== null) throw new FlameError("PROTOCOL", `Malformed ${msg.t}: ${problem}.`);
      const bytes = encodeAnswerFrame(HEADER_SCRATCH, msg, codec);
      frame = Buffer.isBuffer(bytes)
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } else if (codec.encodeAfter !== undefined) {
      // One buffer, no copy of the payload (the codec copies the 8 header bytes first).
      const bytes = codec.encodeAfter(HEADER_SCRATCH, msg);
      frame = Buffer.isBuffer(bytes)
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } else {
      const payload = codec.encode(msg);
      frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
      frame.set(HEADER_SCRATCH, 0);
      frame.set(payload, FRAME_HEADER_BYTES);
    }
  } catch (cause) {
    if (cause instanceof FlameError) throw cause;
    throw new FlameError(
      "SERIALIZATION",
      `Could not encode the ${describeMessage(msg)} with the ${codec.name} codec: ${errorMessage(cause)}. Arguments and results must be structured-clone compatible (no functions, symbols or class instances with behaviour).`,
      { cause },
    );
  }
  return withinLimit(frame, msg, maxFrameBytes);
}

/**
 * The frame of a call, cast or child.start whose input is still a value: the codec encodes it
 * straight into the frame (the parent's hot path: one serializer, one buffer per call).
 * Throws FlameError SERIALIZATION like `encodeFrame`.
 */
export function encodeRequestFrame(
  work: WorkEnvelope,
  input: unknown,
  codec: Codec,
  maxFrameBytes: number,
): Buffer {
  writeHeader(KIND_NUMBER.get(work.t) ?? 0, work.id);
  let bytes: Uint8Array;
  try {
    bytes = encodeWorkFrameOf(HEADER_SCRATCH, work, input, codec);
  } catch (cause) {
    if (cause instanceof FlameError) throw cause;
    throw new FlameError(
      "SERIALIZATION",
      `Could not encode the input of "${work.fn}" with the ${codec.name} codec: ${errorMessage(cause)}. Arguments and results must be structured-clone compatible (no functions, symbols or class instances with behaviour).`,
      { cause },
    );
  }
  const frame = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return withinLimit(frame, work, maxFrameBytes);
}

function writeHeader(kind: number, id: number): void {
  HEADER_SCRATCH[0] = FRAME_MAGIC;
  HEADER_SCRATCH[1] = PROTOCOL_VERSION;
  HEADER_SCRATCH[2] = kind;
  HEADER_SCRATCH[3] = 0;
  HEADER_VIEW.setUint32(4, id);
}

function withinLimit(
  frame: Buffer,
  msg: { readonly t: string; readonly fn?: string },
  maxFrameBytes: number,
): Buffer {
  const total = frame.byteLength;
  if (total > maxFrameBytes) {
    throw new FlameError(
      "SERIALIZATION",
      `The ${describeMessage(msg)} encodes to ${total} bytes, over the ${maxFrameBytes}-byte frame limit (maxFrameBytes). Send less data per call (e.g. pass a URL or a storage key) or raise maxFrameBytes.`,
    );
  }
  return frame;
}

function isAnswer(msg: AnyMessage): msg is AnswerMessage {
  return msg.t === "result" || msg.t === "cast.done" || msg.t === "child.exit";
}

function isWork(msg: AnyMessage): msg is WorkMessage {
  return msg.t === "call" || msg.t === "cast" || msg.t === "child.start";
}

/**
 * Decodes one frame. Never throws: the result is the message or a clean error that names
 * the call id (when the header was readable). `maxFrameBytes`, when given, is enforced here.
 */
export function decodeFrame(bytes: Uint8Array, codec: Codec, maxFrameBytes?: number): DecodedFrame {
  if (bytes.byteLength < FRAME_HEADER_BYTES || bytes[0] !== FRAME_MAGIC) {
    return fail(null, null, "PROTOCOL", "not a flame-ts frame (bad magic byte or too short)");
  }
  if (bytes[1] !== PROTOCOL_VERSION) {
    return fail(
      null,
      null,
      "PROTOCOL",
      `frame is protocol version ${bytes[1]}, this side speaks ${PROTOCOL_VERSION}; run the same flame-ts version on parent and runners`,
    );
  }
  const t = KINDS[(bytes[2] ?? 0) - 1] ?? null;
  const headerId = readId(bytes);
  const id = headerId === NO_ID ? null : headerId;
  if (t === null) return fail(id, null, "PROTOCOL", `unknown message kind ${bytes[2]}`);
  if (maxFrameBytes !== undefined && bytes.byteLength > maxFrameBytes) {
    return fail(
      id,
      t,
      "SERIALIZATION",
      `${t} frame of ${bytes.byteLength} bytes is over the receiver's ${maxFrameBytes}-byte limit (maxFrameBytes)`,
    );
  }
  if (t === "call" || t === "cast" || t === "child.start") {
    if (id === null) return fail(null, t, "PROTOCOL", `a ${t} frame must carry a call id`);
    const work = decodeWorkFrame(t, id, bytes, FRAME_HEADER_BYTES);
    return typeof work === "string"
      ? fail(id, t, "PROTOCOL", `malformed ${t}: ${work}`)
      : { ok: true, msg: work };
  }
  if (t === "result" || t === "cast.done" || t === "child.exit") {
    if (id === null) return fail(null, t, "PROTOCOL", `a ${t} frame must carry a call id`);
    const answer = decodeAnswerFrame(t, id, bytes, FRAME_HEADER_BYTES, codec);
    if (typeof answer === "string") return fail(id, t, "PROTOCOL", `malformed ${t}: ${answer}`);
    if ("serialization" in answer) {
      return fail(
        id,
        t,
        "SERIALIZATION",
        `could not decode the ${t} payload: ${answer.serialization}`,
      );
    }
    return { ok: true, msg: answer };
  }
  let msg: unknown;
  try {
    msg = codec.decode(bytes.subarray(FRAME_HEADER_BYTES));
  } catch (cause) {
    return fail(
      id,
      t,
      "SERIALIZATION",
      `could not decode the ${t} payload: ${errorMessage(cause)}`,
    );
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    return fail(id, t, "PROTOCOL", `the ${t} payload is not an object`);
  }
  const fields = msg as Record<string, unknown>;
  if (fields.t !== t) {
    return fail(id, t, "PROTOCOL", `header says ${t} but the payload says ${String(fields.t)}`);
  }
  if ("id" in fields && fields.id !== id) {
    return fail(
      id,
      t,
      "PROTOCOL",
      `header id ${id} does not match payload id ${String(fields.id)}`,
    );
  }
  const problem = SHAPE_CHECKS[t]?.(fields) ?? null;
  if (problem !== null) return fail(id, t, "PROTOCOL", `malformed ${t}: ${problem}`);
  return { ok: true, msg: msg as AnyMessage };
}

/** What the 8-byte header says, read without the codec. */
export type FrameHeader =
  | { readonly ok: true; readonly t: Kind; readonly id: number | null }
  | { readonly ok: false; readonly message: string };

/**
 * Reads only the header: lets a receiver decide from the kind, the call id and the frame's
 * length whether the payload is worth decoding at all (the parent drops an answer nobody waits
 * for undecoded). `decodeFrame` makes the same checks again.
 */
export function readFrameHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.byteLength < FRAME_HEADER_BYTES || bytes[0] !== FRAME_MAGIC) {
    return { ok: false, message: "not a flame-ts frame (bad magic byte or too short)" };
  }
  if (bytes[1] !== PROTOCOL_VERSION) {
    return { ok: false, message: `frame is protocol version ${bytes[1]}` };
  }
  const t = KINDS[(bytes[2] ?? 0) - 1];
  if (t === undefined) return { ok: false, message: `unknown message kind ${bytes[2]}` };
  const id = readId(bytes);
  return { ok: true, t, id: id === NO_ID ? null : id };
}

/** Reads only the header's call id, e.g. to answer a frame that is too large to decode. */
function readId(bytes: Uint8Array): number {
  return (
    (bytes[4] ?? 0) * 0x1000000 +
    (((bytes[5] ?? 0) << 16) | ((bytes[6] ?? 0) << 8) | (bytes[7] ?? 0))
  );
}

function fail(
  id: number | null,
  t: Kind | null,
  code: FrameErrorCode,
  message: string,
): DecodedFrame {
  return { ok: false, id, t, code, message };
}

function describeMessage(msg: { readonly t: string; readonly fn?: string }): string {
  if (msg.fn !== undefined) return `${msg.t} of "${msg.fn}"`;
  return `${msg.t} message`;
}

function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\.+$/, "");
}
