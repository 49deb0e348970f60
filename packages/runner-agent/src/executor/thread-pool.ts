/**
 * The default executor: functions run on worker threads, so CPU-bound work uses every core
 * the runner may use and never blocks the link, and a task past its deadline can be stopped
 * for real by terminating its thread (FLAME's Terminator) and starting a replacement.
 *
 * The first thread starts before the agent loads (startFirstThread); the others start once the
 * first answer has left, at once when a task finds every started thread busy, or after
 * START_OTHERS_WHEN_IDLE_MS with no call (a runner kept warm by `min` is fully ready for the
 * first burst). Booting a thread takes a core for ~50–100 ms: started beside the first call,
 * they made its answer later (issue 23, empty pool → first result on the 2-core bench VM,
 * loaded: 1.72 → 1.63× and 1.57 → 1.54× a bare node + ws + echo, two runs of 20 alternating
 * rounds).
 *
 * A task goes to the least-loaded running thread (fewest tasks, then fewest tracked groups).
 * With `threads ≥ maxConcurrency` (the default when the runner has the CPUs) every task has a
 * thread to itself; with fewer, tasks share, and a thread that dies or is terminated fails
 * every task on it (documented in the README) and loses the tracked values it holds.
 *
 * Tracked values live in the thread whose call tracked them: this pool learns which from the
 * answer (its kept indices), sends pinned calls, releases and discards there, and reports a
 * dead thread's values `released … lost`.
 */
import type { WireError } from "@flame-ts/pool-core/wire";
import { describeEnd, lostError, type ThreadEnd } from "../lifecycle/thread-life.js";
import { readAnswerBatch } from "./answer-batch.js";
import { APART_BYTES, posted, type TaskBatchWriter, type WorkerOrder } from "./batch.js";
import { withinBound } from "./bound.js";
import type { Executor, ExecutorSink, TaskSpec } from "./executor.js";
import { type CellRef, STAGING_THREADS, StagingCells } from "./staging.js";
import { type ThreadSettings, WorkerThread } from "./thread.js";
import type { FromWorker, ToWorker } from "./worker-messages.js";

export type { ThreadSettings };

export interface ThreadPoolOptions extends ThreadSettings {
  readonly threads: number;
  readonly debug: (msg: string) => void;
}

/** Thrown by `ThreadPool.start` when the entry module does not load: the runner can't serve. */
class EntryLoadError extends Error {}

/**
 * A runner that got no call this long after its first thread loaded starts the others anyway:
 * a cold start's first call comes right after the hello, well within it.
 */
const START_OTHERS_WHEN_IDLE_MS = 250;

/** The older open tasks a staged task names fit a byte (batch.ts). */
const MAX_STAGED = 255;
/** Staged tasks posted to a thread that has not answered since: past this, it gets no more. */
const STAGED_PER_SILENT_THREAD = 8;

export class ThreadPool implements Executor {
  readonly functions: readonly string[];
  readonly #threads: WorkerThread[] = [];
  readonly #taskThread = new Map<number, WorkerThread>();
  /** Each call with kept tracked values: its thread, and the indices not yet released. */
  readonly #groups = new Map<number, { thread: WorkerThread; indices: Set<number> }>();
  /** Staged tasks (staging.ts) not yet claimed or withdrawn: their cell (on every busy thread). */
  readonly #staged = new Map<number, CellRef>();
  readonly #cells: StagingCells;
  #closing = false;
  /** The threads beyond the first have been started (see the module doc for when). */
  #othersStarted = false;
  #flushQueued = false;
  readonly #flush = (): void => {
    this.#flushQueued = false;
    // Every outbox is packed before any is posted: a large input's buffer is transferred whole
    // (batch.ts), and a small input of another thread's batch may lie in the same socket chunk;
    // packing copies it first, so no posting detaches bytes another batch still has to copy.
    const taken: [WorkerThread, ReturnType<TaskBatchWriter["take"]>][] = [];
    for (const thread of this.#threads) {
      if (!thread.outbox.empty) taken.push([thread, thread.outbox.take()]);
    }
    for (const [thread, { batch, transfer }] of taken) {
      if (thread.life.phase !== "gone")
        thread.worker.postMessage(posted(batch, batch.orders) satisfies ToWorker, transfer);
    }
  };

  private constructor(
    private readonly options: ThreadPoolOptions,
    private readonly sink: ExecutorSink,
    first: WorkerThread,
    functions: readonly string[],
  ) {
    this.functions = functions;
    this.#cells = new StagingCells(options.staging);
    this.#adopt(first);
    // Unref'd: a runner on its way out does not wait for it.
    setTimeout(() => this.#startOthers(), START_OTHERS_WHEN_IDLE_MS).unref();
  }

  /**
   * Waits for the first thread's entry module (started here, or earlier by `startFirstThread`);
   * the other threads start later (the module doc says when).
   */
  static async start(
    options: ThreadPoolOptions,
    sink: ExecutorSink,
    first: FirstThread = startFirstThread(options),
  ): Promise<ThreadPool> {
    const functions = await first.loaded;
    return new ThreadPool(options, sink, first.thread, functions);
  }

  run(task: TaskSpec): void {
    if (!this.withdraw(task.id)) return; // a thread claimed it before the machine heard: it runs
    // A pinned call whose group is not held here goes anywhere: its thread answers RESOURCE_GONE.
    const holder = task.on === undefined ? undefined : this.#groups.get(task.on)?.thread;
    const thread = holder?.takesTasks === true ? holder : this.#leastLoadedStartingOthers();
    thread.tasks.add(task.id);
    this.#taskThread.set(task.id, thread);
    thread.outbox.add(task);
    this.#flushSoon();
  }

  /**
   * Stages a plain call on every thread that runs a task (only a task's end hands a slot on)
   * and has answered lately. Small inputs only: a staged input is copied into each thread's
   * batch, and the main thread keeps its own to run it itself if need be (batch.ts).
   */
  stage(task: TaskSpec): boolean {
    if (task.kind !== "call" || task.on !== undefined || task.input.byteLength >= APART_BYTES) {
      return false;
    }
    if (this.#closing || this.#staged.size >= MAX_STAGED) return false;
    const targets = this.#threads.filter(
      (thread) =>
        thread.takesTasks &&
        thread.tasks.size > 0 &&
        thread.stagedSinceAnswer < STAGED_PER_SILENT_THREAD,
    );
    if (targets.length === 0) return false;
    const ref = this.#cells.open();
    if (ref === null) return false;
    const older = [...this.#staged.values()];
    this.#staged.set(task.id, ref);
    for (const thread of targets) {
      thread.stagedSinceAnswer += 1;
      thread.outbox.add(task, { ref, older });
    }
    this.#flushSoon();
    return true;
  }

  withdraw(id: number): boolean {
    const ref = this.#staged.get(id);
    if (ref === undefined) return true;
    if (this.#cells.withdraw(ref)) {
      this.#staged.delete(id);
      this.#cells.release(ref);
      return true;
    }
    this.#claimed(id, ref);
    return false;
  }

  hold(): readonly number[] {
    if (this.#staged.size === 0) return [];
    this.#cells.hold();
    const claimed: number[] = [];
    for (const [id, ref] of this.#staged) {
      if (this.#cells.claimedBy(ref) !== null) claimed.push(id);
    }
    for (const id of claimed) this.#claimed(id, this.#staged.get(id) as CellRef);
    return claimed;
  }

  letGo(): void {
    this.#cells.letGo();
  }

  /** Staged task `id` was claimed: it runs on the thread that claimed it, like a task posted there. */
  #claimed(id: number, ref: CellRef): void {
    const slot = this.#cells.claimedBy(ref);
    this.#staged.delete(id);
    this.#cells.release(ref);
    const thread = this.#threads.find((t) => t.threadSlot === slot);
    if (thread === undefined) return;
    thread.tasks.add(id);
    this.#taskThread.set(id, thread);
  }

  abort(id: number, error: WireError): void {
    this.#order(this.#taskThread.get(id), { op: "abort", id, error });
  }

  release(group: number, index: number): void {
    const held = this.#groups.get(group);
    if (held === undefined || !held.indices.has(index)) {
      // Idempotent: already released, or lost with its thread (the parent may race that).
      this.sink.released(group, index, undefined, false);
      return;
    }
    this.#order(held.thread, { op: "release", group, index });
  }

  discard(group: number): void {
    const held = this.#groups.get(group);
    if (held === undefined) return;
    this.#groups.delete(group);
    held.thread.groups.delete(group);
    this.#order(held.thread, { op: "discard", group });
  }

  #order(thread: WorkerThread | undefined, order: WorkerOrder): void {
    if (thread === undefined || thread.life.phase === "gone") return;
    thread.outbox.order(order);
    this.#flushSoon();
  }

  /** The outboxes leave as one postMessage per thread after this microtask. */
  #flushSoon(): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  terminate(id: number): boolean {
    const thread = this.#taskThread.get(id);
    if (thread?.terminate(id)) {
      this.options.debug(`terminating the thread of task ${id} (it ignored its signal)`);
    }
    return true;
  }

  /**
   * Every thread disposes its tracked values (waited for up to `disposeBoundMs`: a dispose that
   * hangs does not keep the runner), then every thread is terminated.
   */
  async close(disposeBoundMs: number): Promise<void> {
    this.#closing = true;
    this.#flush();
    const disposed = this.#threads.map((thread) => {
      if (!thread.takesTasks) return thread.gone;
      const { worker } = thread;
      const done = new Promise<void>((resolve) => {
        const onMessage = (msg: FromWorker) => {
          if (msg instanceof Uint8Array || msg.op !== "disposedAll") return;
          worker.off("message", onMessage);
          resolve();
        };
        worker.on("message", onMessage);
      });
      worker.postMessage({ op: "disposeAll" } satisfies ToWorker);
      return Promise.race([done, thread.gone]);
    });
    await withinBound(Promise.all(disposed), disposeBoundMs);
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  /** The least-loaded thread; when even that one is busy, the other threads start first. */
  #leastLoadedStartingOthers(): WorkerThread {
    const best = this.#leastLoaded();
    if (this.#othersStarted || best.tasks.size === 0) return best;
    this.#startOthers();
    return this.#leastLoaded();
  }

  /** Starts the threads beyond the first, once; a thread that ended is replaced by #retire. */
  #startOthers(): void {
    if (this.#othersStarted || this.#closing) return;
    this.#othersStarted = true;
    while (this.#threads.length < this.options.threads) {
      this.#adopt(this.#newThread());
    }
  }

  #leastLoaded(): WorkerThread {
    let best: WorkerThread | undefined;
    for (const thread of this.#threads) {
      if (!thread.takesTasks) continue;
      if (
        best === undefined ||
        thread.tasks.size < best.tasks.size ||
        (thread.tasks.size === best.tasks.size && thread.groups.size < best.groups.size)
      ) {
        best = thread;
      }
    }
    // Every thread is ending (one thread, just terminated): start one more now.
    return best ?? this.#adopt(this.#newThread());
  }

  /** A new thread, with the lowest staging record no live thread uses (-1 past the last). */
  #newThread(): WorkerThread {
    const used = new Set(this.#threads.map((thread) => thread.threadSlot));
    let threadSlot = 0;
    while (used.has(threadSlot)) threadSlot += 1;
    if (threadSlot >= STAGING_THREADS) threadSlot = -1;
    else this.#cells.answersSeen(threadSlot, 0);
    return new WorkerThread(this.options, threadSlot);
  }

  #adopt(thread: WorkerThread): WorkerThread {
    this.#threads.push(thread);
    thread.worker.on("message", (msg: FromWorker) => {
      if (msg instanceof Uint8Array || msg.op === "outcomes") {
        // Before the machine steps on these answers: the slots they free are its own now.
        thread.answersSeen += 1;
        thread.stagedSinceAnswer = 0;
        if (thread.threadSlot >= 0) this.#cells.answersSeen(thread.threadSlot, thread.answersSeen);
        readAnswerBatch(
          msg,
          (id, frame, tracked) => {
            thread.tasks.delete(id);
            this.#taskThread.delete(id);
            if (tracked.length > 0) {
              this.#groups.set(id, { thread, indices: new Set(tracked) });
              thread.groups.add(id);
            }
            this.sink.outcome(id, frame, tracked);
            // After this turn's I/O: the answer is written before a thread's start takes the core.
            if (!this.#othersStarted) setImmediate(() => this.#startOthers());
          },
          ({ group, index, error }) => {
            const held = this.#groups.get(group);
            if (held?.indices.delete(index) === true && held.indices.size === 0) {
              this.#groups.delete(group);
              thread.groups.delete(group);
            }
            this.sink.released(group, index, error, false);
          },
        );
      } else if (msg.op === "loadFailed") {
        thread.crashed(new Error(msg.message));
      }
    });
    // Also when it ended before this adoption (a first thread started early).
    void thread.gone.then((end) => this.#retire(thread, end));
    return thread;
  }

  /** Its tasks fail with the reason it ended; a replacement starts unless the pool is closing. */
  #retire(thread: WorkerThread, end: ThreadEnd): void {
    if (!this.#closing) {
      this.options.debug(`worker thread ${describeEnd(end)}; starting a replacement`);
    }
    // A task it claimed ran there and is lost with it (the machine takes its end as its start).
    for (const [id, ref] of [...this.#staged]) {
      if (this.#cells.claimedBy(ref) === thread.threadSlot) this.#claimed(id, ref);
    }
    this.#threads.splice(this.#threads.indexOf(thread), 1);
    const failed = [...thread.tasks];
    thread.tasks.clear();
    for (const id of failed) {
      this.#taskThread.delete(id);
      this.sink.lost(id, lostError(end, id, this.options.threadMemoryMb));
    }
    // Its tracked values died with it: the parent marks their handles gone.
    for (const group of thread.groups) {
      const held = this.#groups.get(group);
      this.#groups.delete(group);
      if (held === undefined || this.#closing) continue;
      for (const index of held.indices) this.sink.released(group, index, undefined, true);
    }
    thread.groups.clear();
    if (!this.#closing && this.#threads.length < this.options.threads) {
      this.#adopt(this.#newThread());
    }
  }
}

/** A thread started, and the function ids its entry defined once loaded (EntryLoadError if not). */
export interface FirstThread {
  readonly thread: WorkerThread;
  readonly loaded: Promise<readonly string[]>;
  /** The staging memory it was started with: the pool's other threads share it. */
  readonly staging: SharedArrayBuffer;
}

/**
 * Starts a runner's first thread. The bin calls it before it loads the rest of the agent (ws,
 * the link, the session), so the thread boots and loads the entry on another core meanwhile:
 * on the cold-start bench that took ~90 ms off a runner's first answer.
 */
export function startFirstThread(options: ThreadSettings): FirstThread {
  // Record 0: the pool that adopts it gives the others the next ones.
  const thread = new WorkerThread(options, 0);
  const { worker } = thread;
  const loaded = new Promise<readonly string[]>((resolve, reject) => {
    const onMessage = (msg: FromWorker) => {
      if (msg instanceof Uint8Array) return;
      if (msg.op === "ready") done(() => resolve(msg.functions));
      else if (msg.op === "loadFailed") done(() => reject(new EntryLoadError(msg.message)));
    };
    const onError = (error: Error) =>
      done(() => reject(new EntryLoadError(`worker thread failed to start: ${error.message}`)));
    const onExit = (code: number) =>
      done(() => reject(new EntryLoadError(`worker thread exited (code ${code}) while loading`)));
    const done = (settle: () => void) => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      settle();
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
  // Seen by `start`; until then a failed load must not count as an unhandled rejection.
  loaded.catch(() => {});
  return { thread, loaded, staging: options.staging };
}
