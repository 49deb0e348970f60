/**
 * The layout of answer frames (`result`, `cast.done`, `child.exit`), one per call: a flags
 * byte, then the codec's encoding of the value (ok) or of the wire error (not ok).
 *
 *   bytes 0..7  frame header (frame.ts)
 *   byte  8     flags: bit 0 = ok, bit 1 = answeredEarly, bit 2 = a payload follows,
 *               bit 3 = tracked (an ok `result` whose value holds tracked references)
 *   then        the codec's encoding of `value` (ok) or `error` (not ok), to the frame's end
 *
 * Why not a codec-encoded message like the others: wrapping the value in `{t, id, ok, value}`
 * made the runner serialize, and the parent deserialize and shape-check, four extra fields per
 * call, on the hottest path there is (the call-path bench, see work-frame.ts for the inputs).
 */
import type { Codec } from "./codec.js";
import type { RunnerToParent, WireError } from "./messages.js";

export type AnswerMessage = Extract<RunnerToParent, { t: "result" | "cast.done" | "child.exit" }>;

const OK = 1;
const ANSWERED_EARLY = 2;
const HAS_PAYLOAD = 4;
const TRACKED = 8;
const KNOWN_FLAGS = OK | ANSWERED_EARLY | HAS_PAYLOAD | TRACKED;

/** `header` then the answer's flags and payload, in one buffer. Throws what the codec throws. */
export function encodeAnswerFrame(
  header: Uint8Array,
  msg: AnswerMessage,
  codec: Codec,
): Uint8Array {
  const ok = msg.ok;
  const payload: { value: unknown } | null = !ok
    ? { value: msg.error }
    : msg.t === "cast.done"
      ? null
      : { value: msg.value };
  const answeredEarly = !ok && msg.answeredEarly === true;
  const tracked = ok && msg.t === "result" && msg.tracked === true;
  const prefix = new Uint8Array(header.byteLength + 1);
  prefix.set(header, 0);
  prefix[header.byteLength] =
    (ok ? OK : 0) |
    (answeredEarly ? ANSWERED_EARLY : 0) |
    (payload === null ? 0 : HAS_PAYLOAD) |
    (tracked ? TRACKED : 0);
  if (payload === null) return prefix;
  if (codec.encodeAfter !== undefined) return codec.encodeAfter(prefix, payload.value);
  const bytes = codec.encode(payload.value);
  const frame = new Uint8Array(prefix.byteLength + bytes.byteLength);
  frame.set(prefix, 0);
  frame.set(bytes, prefix.byteLength);
  return frame;
}

/**
 * Reads an answer frame after its header. Returns the message, or what is wrong with it:
 * `{ serialization }` when the payload did not decode, a string when the layout is wrong.
 */
export function decodeAnswerFrame(
  t: AnswerMessage["t"],
  id: number,
  bytes: Uint8Array,
  headerBytes: number,
  codec: Codec,
): AnswerMessage | string | { readonly serialization: string } {
  const layout = readAnswerLayout(t, id, bytes, headerBytes);
  if (typeof layout === "string" || "t" in layout) return layout;
  let payload: unknown;
  try {
    payload = codec.decode(layout.payload);
  } catch (cause) {
    return { serialization: (cause as Error)?.message ?? String(cause) };
  }
  return answerWithPayload(t, id, layout, payload);
}

/** An answer's flags, and the bytes of its value or error still to decode. */
export interface AnswerLayout {
  readonly ok: boolean;
  readonly answeredEarly: boolean;
  /** An ok `result` whose value holds tracked references. */
  readonly tracked: boolean;
  readonly payload: Uint8Array;
}

/**
 * The flags byte and where the payload lies, without decoding it: the whole answer when it
 * carries no payload, what is wrong with the layout as a string, or the layout to decode.
 */
export function readAnswerLayout(
  t: AnswerMessage["t"],
  id: number,
  bytes: Uint8Array,
  headerBytes: number,
): AnswerMessage | AnswerLayout | string {
  if (bytes.byteLength < headerBytes + 1) return "the flags byte is missing";
  const flags = bytes[headerBytes] ?? 0;
  if ((flags & ~KNOWN_FLAGS) !== 0) return `unknown flags ${flags}`;
  const ok = (flags & OK) !== 0;
  const answeredEarly = (flags & ANSWERED_EARLY) !== 0;
  if (ok && answeredEarly) return "a successful answer can't be answered early";
  const tracked = (flags & TRACKED) !== 0;
  if (tracked && !(ok && t === "result")) return "only a successful result can hold tracked values";
  const hasPayload = (flags & HAS_PAYLOAD) !== 0;
  const rest = bytes.subarray(headerBytes + 1);
  if (!hasPayload) {
    if (rest.byteLength !== 0) return "bytes follow an answer flagged as having none";
    if (ok && t === "cast.done") return { t, id, ok: true };
    return `a ${ok ? "successful" : "failed"} ${t} must carry a ${ok ? "value" : "error"}`;
  }
  if (ok && t === "cast.done") return "a successful cast.done carries no value";
  return { ok, answeredEarly, tracked, payload: rest };
}

/** The answer once its payload is decoded, or what is wrong with it. */
export function answerWithPayload(
  t: AnswerMessage["t"],
  id: number,
  layout: AnswerLayout,
  payload: unknown,
): AnswerMessage | string {
  if (layout.ok) {
    if (t !== "result") return { t: "child.exit", id, ok: true, value: payload };
    return layout.tracked
      ? { t, id, ok: true, value: payload, tracked: true }
      : { t, id, ok: true, value: payload };
  }
  if (!isWireError(payload)) return "error must be {code, name, message}";
  return layout.answeredEarly
    ? { t, id, ok: false, error: payload, answeredEarly: true }
    : { t, id, ok: false, error: payload };
}

function isWireError(v: unknown): v is WireError {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.code === "string" &&
    typeof e.name === "string" &&
    typeof e.message === "string" &&
    (e.stack === undefined || typeof e.stack === "string")
  );
}
