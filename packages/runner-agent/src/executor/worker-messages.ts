/** Messages between the agent's main thread and its worker threads (MessagePort, structured clone). */
import type { AnswerBatch } from "./answer-batch.js";
import type { Posted, TaskBatch } from "./batch.js";

export interface WorkerSettings {
  /** URL of the app's entry module; null when functions are registered another way (--import). */
  readonly entry: string | null;
  readonly runnerId: string;
  readonly maxFrameBytes: number;
  /** The staging cells and gate (staging.ts), shared by the main thread and every thread. */
  readonly staging: SharedArrayBuffer;
  /** This thread's record of answers seen in `staging` (unique among live threads; -1: none). */
  readonly threadSlot: number;
}

/**
 * Batches of tasks (with orders) in, batches of answers out: see batch.ts and answer-batch.ts
 * (a batch of packed entries alone travels as its bytes: `Posted`).
 * `disposeAll`: the runner is leaving; the thread disposes every tracked value and answers
 * `disposedAll`.
 */
export type ToWorker = Posted<TaskBatch> | { readonly op: "disposeAll" };

export type FromWorker =
  | { readonly op: "ready"; readonly functions: readonly string[] }
  | { readonly op: "loadFailed"; readonly message: string }
  | { readonly op: "disposedAll" }
  | Posted<AnswerBatch>;
