/**
 * Tasks to a worker thread and answers back, packed into one buffer per batch.
 *
 * postMessage clones every object it is given: on the call-path bench (128 callers) a batch
 * held ~17 tasks and cloning them as objects was ~30% of the agent main thread's CPU; one
 * transferred buffer per batch costs a fixed few µs whatever it holds. Written by hand because
 * the layout is five fixed fields and two strings: a general serializer is what we measured.
 *
 * A task:   u32 id · u8 kind (bit 7: has a traceparent) · f64 deadlineMs (NaN = none) · u16 fn
 *           bytes · u16 traceparent bytes · u32 input bytes (0xFFFFFFFF = sent apart) · u8
 *           attempt · u8 idempotency key bytes (0 = none) · fn · traceparent · key · input
 * An answer: u32 id · u32 frame bytes (0xFFFFFFFF = sent apart) · frame
 *
 * Inputs and frames of `APART_BYTES` or more are not copied into the batch: they travel as
 * their own transferred buffer, in order, so a 16 MB input is never copied twice.
 */
import { type WireError, WORK_KINDS, type WorkKind } from "@flame-ts/pool-core/wire";
import type { TaskSpec } from "./executor.js";

export const APART_BYTES = 64 * 1024;
const HAS_TRACEPARENT = 0x80;
const APART_U32 = 0xffffffff;
const TASK_FIXED_BYTES = 4 + 1 + 8 + 2 + 2 + 4 + 1 + 1;
const ANSWER_FIXED_BYTES = 8;
const KIND_CODES: readonly WorkKind[] = WORK_KINDS;

export interface AbortOrder {
  readonly id: number;
  readonly error: WireError;
}

/** An abort with its place in the batch: it comes after this many of the batch's tasks. */
export interface PlacedAbort extends AbortOrder {
  readonly afterTasks: number;
}

/**
 * One postMessage from the main thread to a worker. Tasks and aborts keep the order they were
 * given in (a call that follows a cancel must see that cancel applied, as it would have with
 * one message each): `readTaskBatch` interleaves them.
 */
export interface TaskBatch {
  readonly op: "tasks";
  readonly packed: Uint8Array<ArrayBuffer>;
  readonly apart: readonly Uint8Array<ArrayBuffer>[];
  readonly aborts: readonly PlacedAbort[];
}

/** One postMessage from a worker to the main thread. */
export interface AnswerBatch {
  readonly op: "outcomes";
  readonly packed: Uint8Array<ArrayBuffer>;
  readonly apart: readonly Uint8Array<ArrayBuffer>[];
}

export class TaskBatchWriter {
  #tasks: TaskSpec[] = [];
  #aborts: PlacedAbort[] = [];
  #bytes = 0;

  get empty(): boolean {
    return this.#tasks.length === 0 && this.#aborts.length === 0;
  }

  add(task: TaskSpec): void {
    this.#tasks.push(task);
    this.#bytes +=
      TASK_FIXED_BYTES +
      Buffer.byteLength(task.fn) +
      (task.traceparent === undefined ? 0 : Buffer.byteLength(task.traceparent)) +
      (task.idempotencyKey === undefined ? 0 : Buffer.byteLength(task.idempotencyKey)) +
      (task.input.byteLength >= APART_BYTES ? 0 : task.input.byteLength);
  }

  abort(order: AbortOrder): void {
    this.#aborts.push({ ...order, afterTasks: this.#tasks.length });
  }

  /** The batch and the buffers to transfer with it; the writer starts empty again. */
  take(): { readonly batch: TaskBatch; readonly transfer: ArrayBuffer[] } {
    const packed = Buffer.from(new ArrayBuffer(this.#bytes));
    const apart: Uint8Array<ArrayBuffer>[] = [];
    let at = 0;
    for (const task of this.#tasks) {
      packed.writeUInt32BE(task.id, at);
      packed[at + 4] =
        KIND_CODES.indexOf(task.kind) | (task.traceparent === undefined ? 0 : HAS_TRACEPARENT);
      packed.writeDoubleBE(task.deadlineMs ?? Number.NaN, at + 5);
      const fnAt = at + TASK_FIXED_BYTES;
      const fnBytes = packed.write(task.fn, fnAt, "utf8");
      packed.writeUInt16BE(fnBytes, at + 13);
      let next = fnAt + fnBytes;
      const tpBytes =
        task.traceparent === undefined ? 0 : packed.write(task.traceparent, next, "utf8");
      packed.writeUInt16BE(tpBytes, at + 15);
      next += tpBytes;
      // Both fit a byte: the wire carries them as one (pool-core's protocol/work-frame.ts).
      packed[at + 21] = task.attempt ?? 1;
      const key = task.idempotencyKey;
      const keyBytes = key === undefined ? 0 : packed.write(key, next, "utf8");
      packed[at + 22] = keyBytes;
      next += keyBytes;
      const input = task.input;
      if (input.byteLength >= APART_BYTES) {
        packed.writeUInt32BE(APART_U32, at + 17);
        apart.push(owned(input));
      } else {
        packed.writeUInt32BE(input.byteLength, at + 17);
        packed.set(input, next);
        next += input.byteLength;
      }
      at = next;
    }
    const batch: TaskBatch = {
      op: "tasks",
      packed: new Uint8Array(packed.buffer),
      apart,
      aborts: this.#aborts,
    };
    this.#tasks = [];
    this.#aborts = [];
    this.#bytes = 0;
    return { batch, transfer: [packed.buffer, ...apart.map((a) => a.buffer)] };
  }
}

export interface UnpackedTask {
  readonly id: number;
  readonly kind: WorkKind;
  readonly fn: string;
  readonly input: Uint8Array;
  readonly deadlineMs: number | null;
  readonly traceparent: string | undefined;
  /** undefined: the parent sent none (the context makes one when asked). */
  readonly idempotencyKey: string | undefined;
  readonly attempt: number;
}

/**
 * Calls `run` for each task and `abort` for each abort, in the order they were written.
 * Inputs are views into the batch (the thread owns it).
 */
export function readTaskBatch(
  batch: TaskBatch,
  run: (task: UnpackedTask) => void,
  abort: (order: AbortOrder) => void,
): void {
  const packed = Buffer.from(batch.packed.buffer, batch.packed.byteOffset, batch.packed.byteLength);
  let apartIndex = 0;
  let abortIndex = 0;
  let tasksRun = 0;
  const abortsUpTo = (count: number): void => {
    for (let next = batch.aborts[abortIndex]; next !== undefined && next.afterTasks <= count; ) {
      abort({ id: next.id, error: next.error });
      abortIndex += 1;
      next = batch.aborts[abortIndex];
    }
  };
  let at = 0;
  while (at < packed.byteLength) {
    abortsUpTo(tasksRun);
    const id = packed.readUInt32BE(at);
    const kindByte = packed[at + 4] ?? 0;
    const kind = KIND_CODES[kindByte & ~HAS_TRACEPARENT] ?? "call";
    const deadline = packed.readDoubleBE(at + 5);
    const fnBytes = packed.readUInt16BE(at + 13);
    const tpBytes = packed.readUInt16BE(at + 15);
    const inputBytes = packed.readUInt32BE(at + 17);
    const attempt = packed[at + 21] ?? 1;
    const keyBytes = packed[at + 22] ?? 0;
    let next = at + TASK_FIXED_BYTES;
    const fn = packed.toString("utf8", next, next + fnBytes);
    next += fnBytes;
    let traceparent: string | undefined;
    if ((kindByte & HAS_TRACEPARENT) !== 0) {
      traceparent = packed.toString("utf8", next, next + tpBytes);
      next += tpBytes;
    }
    let idempotencyKey: string | undefined;
    if (keyBytes !== 0) {
      idempotencyKey = packed.toString("utf8", next, next + keyBytes);
      next += keyBytes;
    }
    let input: Uint8Array;
    if (inputBytes === APART_U32) {
      input = batch.apart[apartIndex++] ?? new Uint8Array(0);
    } else {
      input = packed.subarray(next, next + inputBytes);
      next += inputBytes;
    }
    at = next;
    const deadlineMs = Number.isNaN(deadline) ? null : deadline;
    run({ id, kind, fn, input, deadlineMs, traceparent, idempotencyKey, attempt });
    tasksRun += 1;
  }
  abortsUpTo(Number.POSITIVE_INFINITY);
}

export class AnswerBatchWriter {
  #ids: number[] = [];
  #frames: Uint8Array[] = [];
  #bytes = 0;

  get empty(): boolean {
    return this.#ids.length === 0;
  }

  add(id: number, frame: Uint8Array): void {
    this.#ids.push(id);
    this.#frames.push(frame);
    this.#bytes += ANSWER_FIXED_BYTES + (frame.byteLength >= APART_BYTES ? 0 : frame.byteLength);
  }

  take(): { readonly batch: AnswerBatch; readonly transfer: ArrayBuffer[] } {
    const packed = Buffer.from(new ArrayBuffer(this.#bytes));
    const apart: Uint8Array<ArrayBuffer>[] = [];
    let at = 0;
    for (let i = 0; i < this.#ids.length; i += 1) {
      const frame = this.#frames[i] as Uint8Array;
      packed.writeUInt32BE(this.#ids[i] as number, at);
      if (frame.byteLength >= APART_BYTES) {
        packed.writeUInt32BE(APART_U32, at + 4);
        apart.push(owned(frame));
        at += ANSWER_FIXED_BYTES;
      } else {
        packed.writeUInt32BE(frame.byteLength, at + 4);
        packed.set(frame, at + ANSWER_FIXED_BYTES);
        at += ANSWER_FIXED_BYTES + frame.byteLength;
      }
    }
    this.#ids = [];
    this.#frames = [];
    this.#bytes = 0;
    return {
      batch: { op: "outcomes", packed: new Uint8Array(packed.buffer), apart },
      transfer: [packed.buffer, ...apart.map((a) => a.buffer)],
    };
  }
}

/** Calls `answer` for each answer in order; frames are views into the batch. */
export function readAnswerBatch(
  batch: AnswerBatch,
  answer: (id: number, frame: Uint8Array) => void,
): void {
  const packed = Buffer.from(batch.packed.buffer, batch.packed.byteOffset, batch.packed.byteLength);
  let apartIndex = 0;
  let at = 0;
  while (at < packed.byteLength) {
    const id = packed.readUInt32BE(at);
    const frameBytes = packed.readUInt32BE(at + 4);
    at += ANSWER_FIXED_BYTES;
    if (frameBytes === APART_U32) {
      answer(id, batch.apart[apartIndex++] ?? new Uint8Array(0));
    } else {
      answer(id, packed.subarray(at, at + frameBytes));
      at += frameBytes;
    }
  }
}

/** A buffer that owns its memory whole, so it can be transferred (copied when it doesn't). */
function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
    ? (bytes as Uint8Array<ArrayBuffer>)
    : new Uint8Array(bytes);
}
