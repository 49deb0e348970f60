/**
 * A large answer frame travels as several ws messages, its parts, so that the parent's ws
 * never assembles one many-MB message in a single event-loop turn (issue 22, row 2: the copy
 * of a 14 MB message into one buffer was ~50 ms of one tick on the loaded dev box). The parent
 * judges each part from its header, copies it into one buffer it allocated once, and decodes
 * the whole answer in slices as before (link/answer-parts.ts).
 *
 * A part is a frame of kind `answer.part` whose header carries the call id, then:
 *
 *   bytes 8..11   total bytes of the whole answer frame, uint32 big-endian (the same on every part)
 *   bytes 12..15  where this part's bytes go in it, uint32 big-endian
 *   bytes 16..    the answer frame's bytes from there on (at least one)
 *
 * The answer frame is carried whole, its own 8-byte header included: the first part (offset
 * 0) starts with it, so the parent knows the answer's kind before it holds a byte of payload.
 * A runner sends the parts of one answer one after the other, nothing of another answer in
 * between (they leave in one synchronous loop: see send-batcher.ts).
 */
import { ANSWER_PART_KIND_NUMBER, FRAME_HEADER_BYTES, readFrameHeader } from "./frame.js";

/** Answer frames over this many bytes leave as parts of this size (bench/answer-flood.ts). */
export const ANSWER_PART_BYTES = 1024 * 1024;

const PART_ENVELOPE_BYTES = FRAME_HEADER_BYTES + 8;

export interface AnswerPart {
  readonly id: number;
  /** Bytes of the whole answer frame. */
  readonly totalBytes: number;
  /** Where `bytes` go in the answer frame. */
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** True for a result, cast.done or child.exit frame. */
function isAnswerFrame(frame: Uint8Array): boolean {
  const header = readFrameHeader(frame);
  return (
    header.ok && (header.t === "result" || header.t === "cast.done" || header.t === "child.exit")
  );
}

/**
 * The parts `frame` leaves as: itself when it is not an answer or is at most `partBytes`
 * long; otherwise one `answer.part` frame per `partBytes` of it, in order.
 */
export function splitAnswerFrame(frame: Uint8Array, partBytes = ANSWER_PART_BYTES): Uint8Array[] {
  if (frame.byteLength <= partBytes || !isAnswerFrame(frame)) return [frame];
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < frame.byteLength; offset += partBytes) {
    const bytes = frame.subarray(offset, Math.min(offset + partBytes, frame.byteLength));
    const part = Buffer.allocUnsafe(PART_ENVELOPE_BYTES + bytes.byteLength);
    part.set(frame.subarray(0, FRAME_HEADER_BYTES), 0);
    part[2] = ANSWER_PART_KIND_NUMBER;
    part.writeUInt32BE(frame.byteLength, FRAME_HEADER_BYTES);
    part.writeUInt32BE(offset, FRAME_HEADER_BYTES + 4);
    part.set(bytes, PART_ENVELOPE_BYTES);
    parts.push(part);
  }
  return parts;
}

/** Reads a part whose header (kind `answer.part`, call `id`) was read; a string says what is wrong. */
export function readAnswerPart(id: number, frame: Uint8Array): AnswerPart | string {
  if (frame.byteLength <= PART_ENVELOPE_BYTES) return "an answer part with no bytes";
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const totalBytes = view.getUint32(FRAME_HEADER_BYTES);
  const offset = view.getUint32(FRAME_HEADER_BYTES + 4);
  const bytes = frame.subarray(PART_ENVELOPE_BYTES);
  if (offset + bytes.byteLength > totalBytes) {
    return `an answer part of bytes ${offset}..${offset + bytes.byteLength} past its declared total of ${totalBytes}`;
  }
  return { id, totalBytes, offset, bytes };
}
