/**
 * Tasks to a worker thread, packed into one buffer per batch (answers back: answer-batch.ts).
 *
 * postMessage clones every object it is given: on the call-path bench (128 callers) a batch
 * held ~17 tasks and cloning them as objects was ~30% of the agent main thread's CPU; one
 * transferred buffer per batch costs a fixed few µs whatever it holds. Written by hand because
 * the layout is five fixed fields and two strings: a general serializer is what we measured.
 *
 * A task:   u32 id · u8 kind (bit 7: has a traceparent, bit 6: pinned, bit 5: staged) ·
 *           f64 deadlineMs (NaN = none) · u16 fn bytes · u16 traceparent bytes · u32 input bytes
 *           (0xFFFFFFFF = sent apart) · u8 attempt · u8 idempotency key bytes (0 = none) · fn ·
 *           traceparent · key ·
 *           u32 on · u32 onIndex (pinned only) · staging (staged only, staging.ts: u32 cell ·
 *           u32 open · u8 count of older open tasks · (u32 cell · u32 open) × count) · input
 * Answers come back the same way (answer-batch.ts). Orders (aborts, releases) and `released`
 * reports are rare: they travel as plain arrays.
 *
 * Inputs of `APART_BYTES` or more are not copied into the batch: they travel as
 * their own transferred buffer, in order. A large input is the tail of the frame ws assembled
 * for it (its own buffer: a message over 64 KiB spans socket reads, which ws joins into one new
 * buffer), so that buffer is transferred as it is and the thread's decode makes the one copy
 * the function gets at most: the main thread copies nothing (issue 23: that copy was 17% of the
 * agent main thread's CPU at 1 MB args, the thread that bounds the runner's throughput), and a
 * binary value filling most of the frame stays a view into it (Codec.decodeOwned). Anything
 * else (a view with bytes after it, or a long lead) is copied, as before.
 */
import { type WireError, WORK_KINDS, type WorkKind } from "@flame-ts/pool-core/wire";
import type { TaskSpec } from "./executor.js";
import type { CellRef } from "./staging.js";

export const APART_BYTES = 64 * 1024;
/**
 * Most bytes a large input's buffer may hold before it and still be transferred whole: its own
 * frame's header and work envelope (fn, traceparent, idempotency key): a large binary value
 * left as a view into the frame (Codec.decodeOwned) shows only its own call's bytes.
 */
const MAX_LEAD_BYTES = 4 * 1024;
const HAS_TRACEPARENT = 0x80;
const PINNED = 0x40;
/** Posted ahead of time: the thread starts it only when it claims it (staging.ts). */
const STAGED = 0x20;
/** In a length field: the bytes travel apart, as their own transferred buffer. */
export const APART_U32 = 0xffffffff;
const TASK_FIXED_BYTES = 4 + 1 + 8 + 2 + 2 + 4 + 1 + 1;
const KIND_CODES: readonly WorkKind[] = WORK_KINDS;

/** What the main thread asks of a thread besides running tasks. */
export type WorkerOrder =
  /** Abort task `id`'s ctx.signal with `error`. */
  | { readonly op: "abort"; readonly id: number; readonly error: WireError }
  /** The parent released tracked value `index` of call `group`: dispose it, report `released`. */
  | { readonly op: "release"; readonly group: number; readonly index: number }
  /** Nobody saw call `group`'s answer (it was answered early): dispose all it tracked. */
  | { readonly op: "discard"; readonly group: number };

/** An order with its place in the batch: it comes after this many of the batch's tasks. */
export type PlacedOrder = WorkerOrder & { readonly afterTasks: number };

/**
 * One postMessage from the main thread to a worker. Tasks and orders keep the order they were
 * given in (a call that follows a cancel must see that cancel applied, as it would have with
 * one message each; a release comes after the pinned calls sent before it): `readTaskBatch`
 * interleaves them.
 */
export interface TaskBatch extends PackedBytes {
  readonly op: "tasks";
  readonly orders: readonly PlacedOrder[];
}

/** A batch's bytes, either way: the packed entries, and the large ones apart, in order. */
export interface PackedBytes {
  readonly packed: Uint8Array<ArrayBuffer>;
  readonly apart: readonly Uint8Array<ArrayBuffer>[];
}

/**
 * A batch as it crosses threads, either way: one that holds nothing but its packed entries (no
 * large one apart, no order or report: nearly every batch) goes as those bytes alone. Posted as
 * an object, it is structured-cloned field by field and its keys looked up again on arrival:
 * a round trip between two threads measured ~2.3 µs slower (29.5 against 27.2 µs p50, 2-core
 * VM, issue 23), and `perf` showed that deserialization on the agent's main thread.
 */
export type Posted<B extends PackedBytes> = B | Uint8Array<ArrayBuffer>;

const NO_BYTES_APART: readonly Uint8Array<ArrayBuffer>[] = [];

/** `batch` as it is posted: its packed bytes alone when `more` (orders, reports) is empty. */
export function posted<B extends PackedBytes>(batch: B, more: readonly unknown[]): Posted<B> {
  return batch.apart.length === 0 && more.length === 0 ? batch.packed : batch;
}

/** The packed bytes and the ones apart of a batch as it was posted. */
export function unposted(batch: Posted<PackedBytes>): PackedBytes {
  return batch instanceof Uint8Array ? { packed: batch, apart: NO_BYTES_APART } : batch;
}

/** How a staged task is claimed: its own cell, and those of the older tasks still open. */
export interface Staging {
  readonly ref: CellRef;
  readonly older: readonly CellRef[];
}

export class TaskBatchWriter {
  #tasks: TaskSpec[] = [];
  /** Per task in #tasks: its staging, or undefined for a task to run now. */
  #staging: (Staging | undefined)[] = [];
  #orders: PlacedOrder[] = [];
  #bytes = 0;

  get empty(): boolean {
    return this.#tasks.length === 0 && this.#orders.length === 0;
  }

  /**
   * `staging`: post it ahead of time, to start only when claimed. A staged input is always
   * copied into the batch, never transferred: the main thread keeps it, to run it elsewhere.
   */
  add(task: TaskSpec, staging?: Staging): void {
    if (staging !== undefined && task.input.byteLength >= APART_BYTES) {
      throw new Error(`a staged input must be under ${APART_BYTES} bytes`);
    }
    this.#tasks.push(task);
    this.#staging.push(staging);
    this.#bytes +=
      (staging === undefined ? 0 : 9 + 8 * staging.older.length) +
      TASK_FIXED_BYTES +
      Buffer.byteLength(task.fn) +
      (task.traceparent === undefined ? 0 : Buffer.byteLength(task.traceparent)) +
      (task.idempotencyKey === undefined ? 0 : Buffer.byteLength(task.idempotencyKey)) +
      (task.on === undefined ? 0 : 8) +
      (task.input.byteLength >= APART_BYTES ? 0 : task.input.byteLength);
  }

  order(order: WorkerOrder): void {
    this.#orders.push({ ...order, afterTasks: this.#tasks.length });
  }

  /** The batch and the buffers to transfer with it; the writer starts empty again. */
  take(): { readonly batch: TaskBatch; readonly transfer: ArrayBuffer[] } {
    const packed = Buffer.from(new ArrayBuffer(this.#bytes));
    const apart: Uint8Array<ArrayBuffer>[] = [];
    // Made only for a batch with a large input (few are).
    let transferred: Set<ArrayBufferLike> | null = null;
    let at = 0;
    for (const [i, task] of this.#tasks.entries()) {
      const staging = this.#staging[i];
      packed.writeUInt32BE(task.id, at);
      packed[at + 4] =
        KIND_CODES.indexOf(task.kind) |
        (task.traceparent === undefined ? 0 : HAS_TRACEPARENT) |
        (task.on === undefined ? 0 : PINNED) |
        (staging === undefined ? 0 : STAGED);
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
      if (task.on !== undefined) {
        packed.writeUInt32BE(task.on, next);
        packed.writeUInt32BE(task.onIndex ?? 0, next + 4);
        next += 8;
      }
      if (staging !== undefined) {
        next = writeStaging(packed, next, staging);
      }
      const input = task.input;
      if (input.byteLength >= APART_BYTES) {
        packed.writeUInt32BE(APART_U32, at + 17);
        transferred ??= new Set();
        const whole = frameTail(input, transferred) ?? owned(input);
        transferred.add(whole.buffer);
        apart.push(whole);
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
      orders: this.#orders,
    };
    this.#tasks = [];
    this.#staging = [];
    this.#orders = [];
    this.#bytes = 0;
    return { batch, transfer: [packed.buffer, ...apart.map((a) => a.buffer)] };
  }
}

export interface UnpackedTask {
  readonly id: number;
  readonly kind: WorkKind;
  readonly fn: string;
  readonly input: Uint8Array;
  /** The input travelled apart: its buffer is its own frame's alone (RunnableTask.inputOwned). */
  readonly inputOwned: boolean;
  readonly deadlineMs: number | null;
  readonly traceparent: string | undefined;
  /** undefined: the parent sent none (the context makes one when asked). */
  readonly idempotencyKey: string | undefined;
  readonly attempt: number;
  /** Pinned: the call whose tracked values it runs with (undefined: not pinned). */
  readonly on: number | undefined;
  readonly onIndex: number;
  /** Posted ahead of time (staging.ts): run it only once claimed. */
  readonly staging: Staging | undefined;
}

const NO_ORDERS: readonly PlacedOrder[] = [];

/**
 * Calls `run` for each task and `order` for each order, in the order they were written.
 * Inputs are views into the batch (the thread owns it).
 */
export function readTaskBatch(
  batch: Posted<TaskBatch>,
  run: (task: UnpackedTask) => void,
  order: (order: WorkerOrder) => void,
): void {
  const { packed: bytes, apart } = unposted(batch);
  const orders = batch instanceof Uint8Array ? NO_ORDERS : batch.orders;
  const packed = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let apartIndex = 0;
  let orderIndex = 0;
  let tasksRun = 0;
  const ordersUpTo = (count: number): void => {
    for (let next = orders[orderIndex]; next !== undefined && next.afterTasks <= count; ) {
      const { afterTasks: _, ...given } = next;
      order(given);
      orderIndex += 1;
      next = orders[orderIndex];
    }
  };
  let at = 0;
  while (at < packed.byteLength) {
    ordersUpTo(tasksRun);
    const id = packed.readUInt32BE(at);
    const kindByte = packed[at + 4] ?? 0;
    const kind = KIND_CODES[kindByte & ~(HAS_TRACEPARENT | PINNED | STAGED)] ?? "call";
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
    let on: number | undefined;
    let onIndex = 0;
    if ((kindByte & PINNED) !== 0) {
      on = packed.readUInt32BE(next);
      onIndex = packed.readUInt32BE(next + 4);
      next += 8;
    }
    let staging: Staging | undefined;
    if ((kindByte & STAGED) !== 0) {
      [staging, next] = readStaging(packed, next);
    }
    let input: Uint8Array;
    const inputOwned = inputBytes === APART_U32;
    if (inputOwned) {
      input = apart[apartIndex++] ?? new Uint8Array(0);
    } else {
      input = packed.subarray(next, next + inputBytes);
      next += inputBytes;
    }
    at = next;
    // Every task has every field, so the code that runs tasks sees one shape (one hidden class).
    run({
      id,
      kind,
      fn,
      input,
      inputOwned,
      deadlineMs: Number.isNaN(deadline) ? null : deadline,
      traceparent,
      idempotencyKey,
      attempt,
      on,
      onIndex,
      staging,
    });
    tasksRun += 1;
  }
  ordersUpTo(Number.POSITIVE_INFINITY);
}

function writeStaging(packed: Buffer, at: number, { ref, older }: Staging): number {
  packed.writeUInt32BE(ref.cell, at);
  packed.writeUInt32BE(ref.open, at + 4);
  packed[at + 8] = older.length;
  let next = at + 9;
  for (const { cell, open } of older) {
    packed.writeUInt32BE(cell, next);
    packed.writeUInt32BE(open, next + 4);
    next += 8;
  }
  return next;
}

function readStaging(packed: Buffer, at: number): [Staging, number] {
  const ref = { cell: packed.readUInt32BE(at), open: packed.readUInt32BE(at + 4) };
  const count = packed[at + 8] ?? 0;
  const older: CellRef[] = [];
  let next = at + 9;
  for (let i = 0; i < count; i += 1) {
    older.push({ cell: packed.readUInt32BE(next), open: packed.readUInt32BE(next + 4) });
    next += 8;
  }
  return [{ ref, older }, next];
}

/**
 * `input` itself when its buffer can be transferred whole without losing anything anyone else
 * reads: the input runs to the buffer's end (nothing after it: no next frame ws still holds),
 * at most MAX_LEAD_BYTES precede it (its own frame's header), and no other input of this batch
 * goes in it. The small inputs that could share a socket chunk with it are copied into their
 * batches before any batch is posted (thread-pool.ts's flush). Null: copy it.
 */
function frameTail(
  input: Uint8Array,
  transferred: ReadonlySet<ArrayBufferLike>,
): Uint8Array<ArrayBuffer> | null {
  const buffer = input.buffer;
  return buffer instanceof ArrayBuffer &&
    !transferred.has(buffer) &&
    input.byteOffset <= MAX_LEAD_BYTES &&
    input.byteOffset + input.byteLength === buffer.byteLength
    ? (input as Uint8Array<ArrayBuffer>)
    : null;
}

/**
 * A task's input safe to hold past the flush after its arrival (a task queued for a slot, in
 * no batch yet). A small input may lie in the lead of a large input's buffer, which a batch
 * transfers whole (`frameTail`): the small inputs of the same flush are packed first, a held
 * one would be detached, so it gets its own copy (a few bytes; few tasks wait). A large one
 * never fits in such a lead (at most MAX_LEAD_BYTES) and keeps its view, uncopied.
 */
export function heldInput(input: Uint8Array): Uint8Array {
  return input.byteLength >= APART_BYTES ? input : new Uint8Array(input);
}

/** A buffer that owns its memory whole, so it can be transferred (copied when it doesn't). */
export function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
    ? (bytes as Uint8Array<ArrayBuffer>)
    : new Uint8Array(bytes);
}
