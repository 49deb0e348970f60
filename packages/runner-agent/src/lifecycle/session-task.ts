/**
 * What the session (session.ts) keeps for one task while the machine decides its fate: one
 * record per task, moved only by `moveSessionTask`. Pure data.
 *
 * - `received`: the request, kept until the machine says `run`, `queued` or `refuse` (which
 *   forgets it).
 * - `queued`: every slot was in use: the request waits here (a small input copied out of its
 *   frame: executor/batch.ts, `heldInput`, says why) until the machine says `run`, `claimed`,
 *   `refuse` or `unqueued` (the last two forget it). `staged`: the executor also posted it
 *   ahead of time to a thread (executor/staging.ts).
 * - `running`: handed to the executor.
 * - `settled`: its answer frame, kept until the machine says `report` (which forgets it).
 */
import type { WorkKind } from "@flame-ts/pool-core/wire";
import type { TaskSpec } from "../executor/executor.js";
import { checkTransition, type TransitionTable } from "./transition.js";

export type SessionTask =
  | { readonly phase: "received"; readonly kind: WorkKind; readonly spec: TaskSpec }
  | {
      readonly phase: "queued";
      readonly kind: WorkKind;
      readonly spec: TaskSpec;
      readonly staged: boolean;
    }
  | { readonly phase: "running"; readonly kind: WorkKind }
  | { readonly phase: "settled"; readonly kind: WorkKind; readonly frame: Uint8Array };

export type SessionTaskPhase = SessionTask["phase"];

export const SESSION_TASK_TRANSITIONS = {
  received: ["queued", "running"],
  queued: ["running"],
  running: ["settled"],
  settled: [],
} as const satisfies TransitionTable<SessionTaskPhase>;

/** Task `id`'s next record; throws LifecycleTransitionError on a move its table forbids. */
export function moveSessionTask(id: number, task: SessionTask, next: SessionTask): SessionTask {
  checkTransition(SESSION_TASK_TRANSITIONS, `task ${id}`, task.phase, next.phase);
  return next;
}
