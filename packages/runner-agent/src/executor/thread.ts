/**
 * One worker thread and its life (lifecycle/thread-life.ts). Its events are listened to from
 * the moment it starts, so a thread that crashes or exits before any pool adopts it (the bin
 * starts the first one early) still ends exactly once with the right cause, and `gone` tells
 * whoever adopts it later.
 */
import { Worker } from "node:worker_threads";
import {
  moveThread,
  type ThreadEnd,
  type ThreadLife,
  threadExited,
} from "../lifecycle/thread-life.js";
import { TaskBatchWriter } from "./batch.js";
import { withinBound } from "./bound.js";
import type { WorkerSettings } from "./worker-messages.js";

/** Every worker thread this process started that has not exited yet. */
const running = new Set<Worker>();

/**
 * Ends every thread still running and waits for them to stop, up to `boundMs`; returns how
 * many it ended. The bin calls it before `process.exit()`: Node does not order its teardown
 * against a worker thread still starting or loading its entry (nodejs/node#25007), and a
 * runner refused at the challenge while its first thread loaded died once by a V8 fatal error
 * (SIGTRAP, in a loaded whole-suite run) where its backend reads the exit code.
 */
export async function endAllThreads(boundMs: number): Promise<number> {
  const threads = [...running];
  if (threads.length > 0)
    await withinBound(Promise.all(threads.map((w) => w.terminate())), boundMs);
  return threads.length;
}

/** What one thread needs to start (`staging`: the same memory for every thread of a runner). */
export interface ThreadSettings extends Omit<WorkerSettings, "threadSlot"> {
  /** resourceLimits.maxOldGenerationSizeMb per thread; null = Node's default. */
  readonly threadMemoryMb: number | null;
}

const WORKER_URL = new URL("./worker.js", import.meta.url);

export class WorkerThread {
  readonly worker: Worker;
  /** Tasks posted to it and not answered yet: they fail with its end if it ends. */
  readonly tasks = new Set<number>();
  /** Staged tasks (staging.ts) posted to it since its last answer batch. */
  stagedSinceAnswer = 0;
  /** Calls whose tracked values live in this thread: lost with it if it ends. */
  readonly groups = new Set<number>();
  /** Tasks and aborts for this thread, posted together at the end of the microtask (batch.ts). */
  readonly outbox = new TaskBatchWriter();
  /** Settles once, when the thread has exited, whether or not a pool has adopted it yet. */
  readonly gone: Promise<ThreadEnd>;
  #life: ThreadLife = { phase: "running" };

  /** Answer batches the main thread took from it (staging.ts: hand-offs in them are over). */
  answersSeen = 0;

  /** `threadSlot`: its record in the staging memory, unique among the runner's live threads. */
  constructor(
    settings: ThreadSettings,
    readonly threadSlot: number,
  ) {
    const workerData: WorkerSettings = {
      entry: settings.entry,
      runnerId: settings.runnerId,
      maxFrameBytes: settings.maxFrameBytes,
      staging: settings.staging,
      threadSlot,
    };
    this.worker = new Worker(WORKER_URL, {
      workerData,
      ...(settings.threadMemoryMb === null
        ? {}
        : { resourceLimits: { maxOldGenerationSizeMb: settings.threadMemoryMb } }),
    });
    running.add(this.worker);
    this.worker.once("exit", () => running.delete(this.worker));
    // Listening from the start: an 'error' with no listener would be thrown on the main thread.
    this.worker.on("error", (error) => this.crashed(error));
    this.gone = new Promise((resolve) => {
      this.worker.once("exit", (code) => {
        this.#life = threadExited(this.#life, code);
        if (this.#life.phase === "gone") resolve(this.#life.end);
      });
    });
  }

  get life(): ThreadLife {
    return this.#life;
  }

  /** Only a running thread takes tasks. */
  get takesTasks(): boolean {
    return this.#life.phase === "running";
  }

  /** An error escaped the thread (or its entry failed to load): its exit follows. */
  crashed(error: Error): void {
    if (this.#life.phase === "running") {
      this.#life = moveThread(this.#life, { phase: "crashed", error });
    }
  }

  /**
   * Stops it now because task `forTaskId` ignored its signal past the grace. False when it is
   * already ending (crashed, terminating or gone): its end is already decided.
   */
  terminate(forTaskId: number): boolean {
    if (this.#life.phase !== "running") return false;
    this.#life = moveThread(this.#life, { phase: "terminating", forTaskId });
    void this.worker.terminate();
    return true;
  }
}
