/** Messages between the agent's main thread and its worker threads (MessagePort, structured clone). */
import type { WireError } from "@flame-ts/pool-core/protocol";
import type { WorkKind } from "../lifecycle/machine.js";

export interface WorkerSettings {
  /** URL of the app's entry module; null when functions are registered another way (--import). */
  readonly entry: string | null;
  readonly runnerId: string;
  readonly maxFrameBytes: number;
}

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
  | { readonly op: "outcome"; readonly id: number; readonly frame: Uint8Array };
