/**
 * Staged tasks: a call the machine holds queued (every slot busy, protocol 9's prefetch) is
 * also posted ahead of time to every busy worker thread, so whichever thread's task ends first
 * starts it at once, without waiting for the main thread to hear the answer and post the next
 * call. (Posted to one thread chosen ahead, the oldest waited behind a thread that ended last in
 * ~40% of hand-offs on the CPU-bound bench, and that thread then took nothing: queued tasks
 * start oldest first.) A thread that has not answered since several were posted to it gets no
 * more, so a long task's port does not fill with copies.
 * On the 2-core bench VM that hop, with both cores computing, left a thread idle 160–640 µs
 * between tasks, where a thread whose next task sat in its port idled 43–190 µs (issue 23).
 *
 * A queued task must still be exactly one of: started, or taken back (`unqueue`, a cancel, its
 * deadline): never both. So each staged task has a cell in shared memory that says which, and
 * only the side that flips it from "open" may act:
 * - a thread **claims** a task (open → claimed) only when one of its own slot-holding tasks has
 *   just ended (a hand-off: the machine's slot count stays true), only the oldest open task it
 *   holds, and only when no older staged task is still open anywhere (the machine starts queued
 *   tasks oldest first, and the parent's `unqueue` relies on that);
 * - the main thread **withdraws** one (open → withdrawn) before it answers, gives back or runs
 *   it itself.
 *
 * The gate makes the machine exact: the main thread holds it while the machine steps (the
 * driver's dispatch), after first collecting every claim made so far; a thread only tries to
 * claim when it gets the gate at once, and otherwise leaves the task to the main thread's usual
 * path. So no claim happens between the machine deciding about a queued task and the main
 * thread acting on it. Written by hand: no library does a claim on a worker's port.
 *
 * A hand-off is only a hand-off until the main thread hears of the end: from then on the freed
 * slot is the machine's to give (it may start an older queued task in it). So each thread
 * numbers its answer batches, the main thread records the last one it took from that thread
 * (`answersSeen`, before the machine steps on it), and a slot handed on in batch k may be
 * claimed only while that record is below k. A claim that passed that check completes under
 * the gate, which the main thread takes before deciding: it always sees the claim first.
 *
 * A cell holds `generation * 1024 + code` (open, withdrawn, or claimed by which thread): a cell
 * is reused for later tasks with the next generation, so a stale copy of an old task in some
 * thread's port can never claim a new one.
 */

/** Cells for tasks staged at once (the runner's queued calls: one per thread, in practice). */
const STAGING_CELLS = 256;
/** Threads with a record of answers seen; a thread beyond them (or none) never claims. */
export const STAGING_THREADS = 256;
const GATE_INDEX = 0;
const FIRST_SEEN = 1;
const FIRST_CELL = FIRST_SEEN + STAGING_THREADS;
/** A cell's code: open, withdrawn, or claimed by the thread with record `code - CLAIMED_BY`. */
const OPEN = 0;
const WITHDRAWN = 1;
const CLAIMED_BY = 2;
const CODES = 1024;
const GATE_FREE = 0;
const GATE_MAIN = 1;
const GATE_THREAD = 2;
/** Generations wrap here, keeping a cell's value a positive int32. */
const GENERATIONS = 2 ** 31 / CODES;
/** How long the main thread sleeps per try while a thread holds the gate (it holds it for µs). */
const GATE_WAIT_MS = 1;

/** A staged task's cell and the value it holds while the task is open. */
export interface CellRef {
  readonly cell: number;
  readonly open: number;
}

/** Shared between the main thread and every worker thread (workerData). */
export function createStagingMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer((FIRST_CELL + STAGING_CELLS) * Int32Array.BYTES_PER_ELEMENT);
}

/** The main thread's side: hands out cells, withdraws, finds claims, holds the gate. */
export class StagingCells {
  readonly memory: SharedArrayBuffer;
  readonly #cells: Int32Array;
  readonly #free: number[] = [];
  readonly #generation = new Int32Array(STAGING_CELLS);
  #holding = false;

  constructor(memory: SharedArrayBuffer = createStagingMemory()) {
    this.memory = memory;
    this.#cells = new Int32Array(memory);
    for (let i = STAGING_CELLS - 1; i >= 0; i -= 1) this.#free.push(FIRST_CELL + i);
  }

  /** A fresh open cell, or null when every cell is taken (the task is then not staged). */
  open(): CellRef | null {
    const cell = this.#free.pop();
    if (cell === undefined) return null;
    const slot = cell - FIRST_CELL;
    const generation = ((this.#generation[slot] ?? 0) + 1) % GENERATIONS;
    this.#generation[slot] = generation;
    const open = generation * CODES + OPEN;
    Atomics.store(this.#cells, cell, open);
    return { cell, open };
  }

  /** The record of the thread that claimed it (it runs there), or null while it is not claimed. */
  claimedBy(ref: CellRef): number | null {
    const code = Atomics.load(this.#cells, ref.cell) - ref.open;
    return code >= CLAIMED_BY && code < CODES ? code - CLAIMED_BY : null;
  }

  /**
   * Takes an open task back: true when it was open (no thread will start it now), false when a
   * thread claimed it first. Exact even without the gate (one compare-and-swap decides).
   */
  withdraw(ref: CellRef): boolean {
    return (
      Atomics.compareExchange(this.#cells, ref.cell, ref.open, ref.open + WITHDRAWN) === ref.open
    );
  }

  /** The task is resolved and known to the main thread: its cell may serve another. */
  release(ref: CellRef): void {
    this.#free.push(ref.cell);
  }

  /**
   * The main thread took answer batch `batch` of the thread with record `threadSlot`: slots
   * handed on in it, or before, are the machine's now. `batch` 0 resets it for a new thread.
   */
  answersSeen(threadSlot: number, batch: number): void {
    Atomics.store(this.#cells, FIRST_SEEN + threadSlot, batch);
  }

  /** Keeps threads from claiming until `letGo`; waits out a thread that holds it now. */
  hold(): void {
    if (this.#holding) return;
    while (Atomics.compareExchange(this.#cells, GATE_INDEX, GATE_FREE, GATE_MAIN) !== GATE_FREE) {
      Atomics.wait(this.#cells, GATE_INDEX, GATE_THREAD, GATE_WAIT_MS);
    }
    this.#holding = true;
  }

  letGo(): void {
    if (!this.#holding) return;
    this.#holding = false;
    Atomics.store(this.#cells, GATE_INDEX, GATE_FREE);
  }
}

/**
 * A worker thread's side: `claimNext` picks, among `staged` (oldest first), the task to start in
 * a slot this thread handed on in answer batch `handedOnIn`. Null when the main thread already
 * took that batch, when it holds the gate, when an older staged task is still open (on another
 * thread), or when the oldest open one is past its deadline (the main thread answers it).
 * Resolved entries are dropped from `staged`.
 */
export interface StagedEntry<T> {
  readonly task: T;
  readonly ref: CellRef;
  /** The tasks staged before it that were still open then: each must be resolved first. */
  readonly older: readonly CellRef[];
  /** Epoch ms on this runner's clock; null: none. */
  readonly deadlineMs: number | null;
}

/** The last answer batch of this thread the main thread took (0 for a thread with no record). */
export function answersSeen(cells: Int32Array, threadSlot: number): number {
  if (threadSlot < 0 || threadSlot >= STAGING_THREADS) return Number.POSITIVE_INFINITY;
  return Atomics.load(cells, FIRST_SEEN + threadSlot);
}

export function claimNext<T>(
  cells: Int32Array,
  threadSlot: number,
  handedOnIn: number,
  staged: StagedEntry<T>[],
  nowEpochMs: number,
): T | null {
  if (threadSlot < 0 || threadSlot >= STAGING_THREADS) return null;
  if (Atomics.compareExchange(cells, GATE_INDEX, GATE_FREE, GATE_THREAD) !== GATE_FREE) return null;
  try {
    if (Atomics.load(cells, FIRST_SEEN + threadSlot) >= handedOnIn) return null;
    while (staged.length > 0) {
      const entry = staged[0] as StagedEntry<T>;
      if (Atomics.load(cells, entry.ref.cell) !== entry.ref.open) {
        staged.shift();
        continue;
      }
      if (entry.deadlineMs !== null && entry.deadlineMs <= nowEpochMs) return null;
      for (const older of entry.older) {
        if (Atomics.load(cells, older.cell) === older.open) return null;
      }
      staged.shift();
      // A compare-and-swap, not a store: the main thread may withdraw without the gate.
      const claimed = entry.ref.open + CLAIMED_BY + threadSlot;
      const was = Atomics.compareExchange(cells, entry.ref.cell, entry.ref.open, claimed);
      if (was === entry.ref.open) return entry.task;
    }
    return null;
  } finally {
    Atomics.store(cells, GATE_INDEX, GATE_FREE);
    Atomics.notify(cells, GATE_INDEX);
  }
}
