/**
 * Answers and `released` reports from a worker thread to the main thread, packed into one
 * buffer per batch, as tasks travel the other way (batch.ts says why).
 *
 * An answer: u32 id · u32 frame bytes (0xFFFFFFFF = sent apart) · u32 count of tracked values the
 *            result carries · u32 index × count · frame
 * A frame of `APART_BYTES` or more travels as its own transferred buffer, in order. `released`
 * reports are rare: they travel as a plain array, after the answers.
 */
import type { WireError } from "@flame-ts/pool-core/wire";
import { APART_BYTES, APART_U32, owned, type PackedBytes, type Posted, unposted } from "./batch.js";

const ANSWER_FIXED_BYTES = 12;

/** A tracked value released by the parent was disposed (`error`: its dispose threw). */
export interface ReleasedReport {
  readonly group: number;
  readonly index: number;
  readonly error?: WireError;
}

/**
 * One postMessage from a worker to the main thread: answers, then `released` reports (so a
 * pinned call's answer reaches the parent before the release that waited for it).
 */
export interface AnswerBatch extends PackedBytes {
  readonly op: "outcomes";
  readonly released: readonly ReleasedReport[];
}

export class AnswerBatchWriter {
  #ids: number[] = [];
  #frames: Uint8Array[] = [];
  #tracked: (readonly number[])[] = [];
  #released: ReleasedReport[] = [];
  #bytes = 0;

  get empty(): boolean {
    return this.#ids.length === 0 && this.#released.length === 0;
  }

  /** `tracked`: the indices of the call's tracked values its result carries (kept). */
  add(id: number, frame: Uint8Array, tracked: readonly number[] = []): void {
    this.#ids.push(id);
    this.#frames.push(frame);
    this.#tracked.push(tracked);
    this.#bytes +=
      ANSWER_FIXED_BYTES +
      4 * tracked.length +
      (frame.byteLength >= APART_BYTES ? 0 : frame.byteLength);
  }

  released(report: ReleasedReport): void {
    this.#released.push(report);
  }

  take(): { readonly batch: AnswerBatch; readonly transfer: ArrayBuffer[] } {
    const packed = Buffer.from(new ArrayBuffer(this.#bytes));
    const apart: Uint8Array<ArrayBuffer>[] = [];
    let at = 0;
    for (let i = 0; i < this.#ids.length; i += 1) {
      const frame = this.#frames[i] as Uint8Array;
      const tracked = this.#tracked[i] ?? [];
      packed.writeUInt32BE(this.#ids[i] as number, at);
      packed.writeUInt32BE(tracked.length, at + 8);
      let next = at + ANSWER_FIXED_BYTES;
      for (const index of tracked) {
        packed.writeUInt32BE(index, next);
        next += 4;
      }
      if (frame.byteLength >= APART_BYTES) {
        packed.writeUInt32BE(APART_U32, at + 4);
        apart.push(owned(frame));
        at = next;
      } else {
        packed.writeUInt32BE(frame.byteLength, at + 4);
        packed.set(frame, next);
        at = next + frame.byteLength;
      }
    }
    const released = this.#released;
    this.#ids = [];
    this.#frames = [];
    this.#tracked = [];
    this.#released = [];
    this.#bytes = 0;
    return {
      batch: { op: "outcomes", packed: new Uint8Array(packed.buffer), apart, released },
      transfer: [packed.buffer, ...apart.map((a) => a.buffer)],
    };
  }
}

/**
 * Calls `answer` for each answer in order (frames are views into the batch), then `released`
 * for each report.
 */
export function readAnswerBatch(
  batch: Posted<AnswerBatch>,
  answer: (id: number, frame: Uint8Array, tracked: readonly number[]) => void,
  released: (report: ReleasedReport) => void = () => {},
): void {
  const { packed: bytes, apart } = unposted(batch);
  const packed = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let apartIndex = 0;
  let at = 0;
  while (at < packed.byteLength) {
    const id = packed.readUInt32BE(at);
    const frameBytes = packed.readUInt32BE(at + 4);
    const trackedCount = packed.readUInt32BE(at + 8);
    at += ANSWER_FIXED_BYTES;
    const tracked: number[] = [];
    for (let i = 0; i < trackedCount; i += 1) {
      tracked.push(packed.readUInt32BE(at));
      at += 4;
    }
    if (frameBytes === APART_U32) {
      answer(id, apart[apartIndex++] ?? new Uint8Array(0), tracked);
    } else {
      answer(id, packed.subarray(at, at + frameBytes), tracked);
      at += frameBytes;
    }
  }
  if (batch instanceof Uint8Array) return;
  for (const report of batch.released) released(report);
}
