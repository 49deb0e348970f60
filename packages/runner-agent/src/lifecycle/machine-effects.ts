/**
 * What the agent's machine (machine.ts) and its deadlines (deadlines.ts) share: one step's
 * state, instant and effects, and the moves both make (answer a task that never ran, abort one,
 * leave). Pure, like the machine: no I/O, no clock, no timers.
 */
import type { WorkKind } from "@flame-ts/pool-core/wire";
import {
  type AgentEffect,
  type AgentLife,
  type AgentState,
  type ExitName,
  moveAgent,
  type QueuedTask,
  type TaskState,
} from "./agent-state.js";

/** One step: the state it changes in place, its instant, and the effects it returns. */
export interface Step {
  readonly s: AgentState;
  readonly nowMs: number;
  readonly fx: AgentEffect[];
}

/** A queued call's TIMEOUT: like a running call's at its deadline, but nothing ran. */
export const QUEUED_PAST_DEADLINE =
  "did not finish by its deadline: it waited queued for a free slot and never started";

/** The phase in which the runner dials its parent. */
export type Connecting = Extract<AgentLife, { phase: "connecting" }>;

/** The earlier of two instants; null is "none". */
export function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null || a <= b ? a : b;
}

/** A queued task that will never start: answered with this error, then forgotten. */
export function dropQueued(st: Step, task: QueuedTask, code: string, message: string): void {
  st.s.queued.delete(task.id);
  refuse(st, task.id, task.kind, code, message);
}

/** Aborts a running task's signal; past the terminate grace its thread is stopped. */
export function abort(st: Step, task: TaskState, code: string, message: string): void {
  task.terminateAtMs = st.nowMs + st.s.settings.terminateGraceMs;
  st.s.taskDueAtMs = earliest(st.s.taskDueAtMs, task.terminateAtMs);
  st.fx.push({ type: "abort", id: task.id, error: { code, name: "FlameError", message } });
}

/** Answers task `id` with an error; nothing of it runs. */
export function refuse(st: Step, id: number, kind: WorkKind, code: string, message: string): void {
  st.fx.push({ type: "refuse", id, kind, error: { code, name: "FlameError", message } });
}

/** The runner leaves with `exit`, announcing `announce` to the parent first when set. */
export function leave(st: Step, exit: ExitName, reason: string, announce: string | null): void {
  moveAgent(st.s, { phase: "leaving" });
  st.fx.push({ type: "leave", exit, reason, announce });
}
