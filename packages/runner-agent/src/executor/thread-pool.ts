/**
 * The default executor: functions run on worker threads, so CPU-bound work uses every core
 * the runner may use and never blocks the link, and a task past its deadline can be stopped
 * for real by terminating its thread (FLAME's Terminator) and starting a replacement.
 *
 * A task goes to the least-loaded live thread. With `threads ≥ maxConcurrency` (the default
 * when the runner has the CPUs) every task has a thread to itself; with fewer, tasks share,
 * and a thread that dies or is terminated fails every task on it (documented in the README).
 */
import { Worker } from "node:worker_threads";
import type { WireError } from "@flame-ts/pool-core/protocol";
import { readAnswerBatch, TaskBatchWriter } from "./batch.js";
import type { Executor, ExecutorSink, TaskSpec } from "./executor.js";
import type { FromWorker, ToWorker, WorkerSettings } from "./worker-messages.js";

/** What one thread needs to start. */
export interface ThreadSettings extends WorkerSettings {
  /** resourceLimits.maxOldGenerationSizeMb per thread; null = Node's default. */
  readonly threadMemoryMb: number | null;
}

export interface ThreadPoolOptions extends ThreadSettings {
  readonly threads: number;
  readonly debug: (msg: string) => void;
}

/** Thrown by `ThreadPool.start` when the entry module does not load: the runner can't serve. */
export class EntryLoadError extends Error {}

export interface Thread {
  readonly worker: Worker;
  readonly tasks: Set<number>;
  /** Tasks and aborts for this thread, posted together at the end of the microtask (batch.ts). */
  readonly outbox: TaskBatchWriter;
  /** Set when the agent terminated it on purpose: why, and for which task. */
  terminatedFor: { readonly id: number } | null;
  gone: boolean;
  /** What ended it, recorded from its start (a first thread can end before the pool adopts it). */
  crash: Error | null;
  exitCode: number | null;
  /** The pool's handling of its exit; set when adopted. */
  onExit: (() => void) | null;
}

const WORKER_URL = new URL("./worker.js", import.meta.url);

export class ThreadPool implements Executor {
  readonly functions: readonly string[];
  readonly #threads: Thread[] = [];
  readonly #taskThread = new Map<number, Thread>();
  #closing = false;
  #flushQueued = false;
  readonly #flush = (): void => {
    this.#flushQueued = false;
    for (const thread of this.#threads) {
      if (thread.outbox.empty) continue;
      const { batch, transfer } = thread.outbox.take();
      if (!thread.gone) thread.worker.postMessage(batch satisfies ToWorker, transfer);
    }
  };

  private constructor(
    private readonly options: ThreadPoolOptions,
    private readonly sink: ExecutorSink,
    first: Thread,
    functions: readonly string[],
  ) {
    this.functions = functions;
    this.#adopt(first);
    for (let i = 1; i < options.threads; i += 1) this.#adopt(this.#spawn());
  }

  /**
   * Waits for the first thread's entry module (started here, or earlier by `startFirstThread`);
   * the other threads start behind it.
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
    const thread = this.#leastLoaded();
    thread.tasks.add(task.id);
    this.#taskThread.set(task.id, thread);
    thread.outbox.add(task);
    this.#flushSoon();
  }

  abort(id: number, error: WireError): void {
    const thread = this.#taskThread.get(id);
    if (thread === undefined || thread.gone) return;
    thread.outbox.abort({ id, error });
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
    if (thread === undefined || thread.gone) return true;
    this.options.debug(`terminating the thread of task ${id} (it ignored its signal)`);
    thread.terminatedFor = { id };
    void thread.worker.terminate();
    return true;
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  #leastLoaded(): Thread {
    let best: Thread | undefined;
    for (const thread of this.#threads) {
      if (thread.gone || thread.terminatedFor !== null) continue;
      if (best === undefined || thread.tasks.size < best.tasks.size) best = thread;
    }
    // Every thread is being replaced (one thread, just terminated): start one more now.
    return best ?? this.#adopt(this.#spawn());
  }

  #spawn(): Thread {
    return spawnThread(this.options);
  }

  #adopt(thread: Thread): Thread {
    this.#threads.push(thread);
    thread.worker.on("message", (msg: FromWorker) => {
      if (msg.op === "outcomes") {
        readAnswerBatch(msg, (id, frame) => {
          thread.tasks.delete(id);
          this.#taskThread.delete(id);
          this.sink.outcome(id, frame);
        });
      } else if (msg.op === "loadFailed") {
        thread.crash = new Error(msg.message);
      }
    });
    thread.onExit = () => {
      const { crash } = thread;
      const code = thread.exitCode ?? 0;
      const why =
        thread.terminatedFor !== null
          ? `terminated for task ${thread.terminatedFor.id}`
          : crash !== null
            ? `crashed: ${crash.message}`
            : `exited with code ${code}`;
      if (!this.#closing) this.options.debug(`worker thread ${why}; starting a replacement`);
      this.#threads.splice(this.#threads.indexOf(thread), 1);
      const failed = [...thread.tasks];
      thread.tasks.clear();
      for (const id of failed) {
        this.#taskThread.delete(id);
        this.sink.lost(id, lostError(thread, id, crash, code, this.options.threadMemoryMb));
      }
      if (!this.#closing && this.#threads.length < this.options.threads) this.#adopt(this.#spawn());
    };
    // A first thread started early may have ended between its ready and now.
    if (thread.gone) thread.onExit();
    return thread;
  }
}

/** A thread started, and the function ids its entry defined once loaded (EntryLoadError if not). */
export interface FirstThread {
  readonly thread: Thread;
  readonly loaded: Promise<readonly string[]>;
}

/**
 * Starts a runner's first thread. The bin calls it before it loads the rest of the agent (ws,
 * the link, the session), so the thread boots and loads the entry on another core meanwhile:
 * on the cold-start bench that took ~90 ms off a runner's first answer.
 */
export function startFirstThread(options: ThreadSettings): FirstThread {
  const thread = spawnThread(options);
  const { worker } = thread;
  const loaded = new Promise<readonly string[]>((resolve, reject) => {
    const onMessage = (msg: FromWorker) => {
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
  return { thread, loaded };
}

function spawnThread(options: ThreadSettings): Thread {
  const settings: WorkerSettings = {
    entry: options.entry,
    runnerId: options.runnerId,
    maxFrameBytes: options.maxFrameBytes,
  };
  const worker = new Worker(WORKER_URL, {
    workerData: settings,
    ...(options.threadMemoryMb === null
      ? {}
      : { resourceLimits: { maxOldGenerationSizeMb: options.threadMemoryMb } }),
  });
  const thread: Thread = {
    worker,
    tasks: new Set(),
    outbox: new TaskBatchWriter(),
    terminatedFor: null,
    gone: false,
    crash: null,
    exitCode: null,
    onExit: null,
  };
  // Listening from the start: an 'error' with no listener would be thrown on the main thread.
  worker.on("error", (error) => {
    thread.crash = error;
  });
  worker.on("exit", (code) => {
    thread.gone = true;
    thread.exitCode = code;
    thread.onExit?.();
  });
  return thread;
}

/** Why a task on a thread that ended has no answer of its own. */
function lostError(
  thread: Thread,
  id: number,
  crash: Error | null,
  exitCode: number,
  threadMemoryMb: number | null,
): WireError {
  const terminatedFor = thread.terminatedFor;
  if (terminatedFor !== null) {
    return terminatedFor.id === id
      ? {
          code: "TIMEOUT",
          name: "FlameError",
          message: "its thread was terminated: it kept running after its deadline or cancel",
        }
      : {
          code: "RUNNER_DOWN",
          name: "FlameError",
          message: `it shared a thread with call ${terminatedFor.id}, which was terminated for not stopping after its deadline or cancel`,
        };
  }
  if ((crash as { code?: string } | null)?.code === "ERR_WORKER_OUT_OF_MEMORY") {
    return {
      code: "REMOTE_ERROR",
      name: "ERR_WORKER_OUT_OF_MEMORY",
      message: `the function's worker thread ran out of memory (execution.threadMemoryMb: ${threadMemoryMb ?? "Node's default"}); raise it or send less data per call`,
    };
  }
  if (crash !== null) {
    return crash.stack === undefined
      ? { code: "REMOTE_ERROR", name: crash.name, message: crash.message }
      : { code: "REMOTE_ERROR", name: crash.name, message: crash.message, stack: crash.stack };
  }
  return {
    code: "REMOTE_ERROR",
    name: "ThreadExited",
    message: `the function's thread exited with code ${exitCode} (process.exit() in function code?)`,
  };
}
