/**
 * A worker thread's life, as one union moved only by `moveThread` (executor/thread.ts carries
 * it out on a real Worker). Pure: the thread's events come in as data.
 *
 * - `running`: takes tasks.
 * - `crashed`: an error escaped it (or its entry failed to load); its exit follows at once.
 * - `terminating`: the agent terminated it because `forTaskId` kept running past its grace.
 * - `gone`: it exited; `end` says why, for every task that was on it.
 *
 * Only a `running` thread takes tasks. The first cause of an end wins: a thread being
 * terminated that also reports an error ended because it was terminated.
 */
import type { WireError } from "@flame-ts/pool-core/wire";
import { checkTransition, type TransitionTable } from "./transition.js";

export type ThreadEnd =
  | { readonly how: "terminated"; readonly forTaskId: number }
  | { readonly how: "crashed"; readonly error: Error }
  | { readonly how: "exited"; readonly code: number };

export type ThreadLife =
  | { readonly phase: "running" }
  | { readonly phase: "crashed"; readonly error: Error }
  | { readonly phase: "terminating"; readonly forTaskId: number }
  | { readonly phase: "gone"; readonly end: ThreadEnd };

export type ThreadPhase = ThreadLife["phase"];

export const THREAD_TRANSITIONS = {
  running: ["crashed", "terminating", "gone"],
  crashed: ["gone"],
  terminating: ["gone"],
  gone: [],
} as const satisfies TransitionTable<ThreadPhase>;

/** The thread's next life; throws LifecycleTransitionError on a move its table forbids. */
export function moveThread(life: ThreadLife, next: ThreadLife): ThreadLife {
  checkTransition(THREAD_TRANSITIONS, "worker thread", life.phase, next.phase);
  return next;
}

/** The thread exited with `exitCode`: `gone`, ended by what its life says happened first. */
export function threadExited(life: ThreadLife, exitCode: number): ThreadLife {
  const end: ThreadEnd =
    life.phase === "terminating"
      ? { how: "terminated", forTaskId: life.forTaskId }
      : life.phase === "crashed"
        ? { how: "crashed", error: life.error }
        : { how: "exited", code: exitCode };
  return moveThread(life, { phase: "gone", end });
}

/** A one-line account of the end, for the debug log. */
export function describeEnd(end: ThreadEnd): string {
  switch (end.how) {
    case "terminated":
      return `terminated for task ${end.forTaskId}`;
    case "crashed":
      return `crashed: ${end.error.message}`;
    case "exited":
      return `exited with code ${end.code}`;
  }
}

/** Why task `id`, on a thread that ended this way, has no answer of its own. */
export function lostError(end: ThreadEnd, id: number, threadMemoryMb: number | null): WireError {
  switch (end.how) {
    case "terminated":
      return end.forTaskId === id
        ? {
            code: "TIMEOUT",
            name: "FlameError",
            message: "its thread was terminated: it kept running after its deadline or cancel",
          }
        : {
            code: "RUNNER_DOWN",
            name: "FlameError",
            message: `it shared a thread with call ${end.forTaskId}, which was terminated for not stopping after its deadline or cancel`,
          };
    case "crashed": {
      const { error } = end;
      if ((error as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY") {
        return {
          code: "REMOTE_ERROR",
          name: "ERR_WORKER_OUT_OF_MEMORY",
          message: `the function's worker thread ran out of memory (execution.threadMemoryMb: ${threadMemoryMb ?? "Node's default"}); raise it or send less data per call`,
        };
      }
      return error.stack === undefined
        ? { code: "REMOTE_ERROR", name: error.name, message: error.message }
        : { code: "REMOTE_ERROR", name: error.name, message: error.message, stack: error.stack };
    }
    case "exited":
      return {
        code: "REMOTE_ERROR",
        name: "ThreadExited",
        message: `the function's thread exited with code ${end.code} (process.exit() in function code?)`,
      };
  }
}
