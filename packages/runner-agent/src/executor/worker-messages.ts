/** Messages between the agent's main thread and its worker threads (MessagePort, structured clone). */
import type { WireError } from "@flame-ts/pool-core/protocol";
import type { WorkKind } from "../lifecycle/machine.js";

export interface WorkerSettings {
  /** URL of the app's entry module; null when functions are registered another way (--import). */
  readonly entry: string | null;
  readonly runnerId: string;
  readonly maxFrameBytes: number;
}

/**
 * The main thread posts an array of these per thread per microtask, and a thread posts its
 * outcomes once per turn of its event loop: one postMessage (and one wake-up of the other
 * thread) per batch instead of per call. On the call-path bench a postMessage per call was a
 * third of the main thread's CPU. Order within and across batches is the order of the calls
 * (an abort never overtakes its run).
 */
export type ToWorker =
  | {
      readonly op: "run";
      readonly id: number;
      readonly kind: WorkKind;
      readonly fn: string;
      readonly input: Uint8Array;
      readonly deadlineMs: number | null;
      readonly traceparent: string | undefined;
    }
  | { readonly op: "abort"; readonly id: number; readonly error: WireError };

export type FromWorker =
  | { readonly op: "ready"; readonly functions: readonly string[] }
  | { readonly op: "loadFailed"; readonly message: string }
  | {
      readonly op: "outcomes";
      /** Task id and answer frame, alternating: [id, frame, id, frame, …]. */
      readonly answers: readonly (number | Uint8Array)[];
    };
