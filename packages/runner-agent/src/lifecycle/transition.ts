/**
 * The one check every lifecycle in the agent goes through (the agent's, a worker thread's, a
 * session task's): a move not in its table is a bug in the agent, never the user's doing, so
 * it throws at once instead of leaving the lifecycle in a state nobody designed.
 */

/** A move a lifecycle's table does not allow: a bug in the runner agent. */
export class LifecycleTransitionError extends Error {
  override readonly name = "LifecycleTransitionError";
}

/** Each phase, and the phases it may move to. */
export type TransitionTable<P extends string> = { readonly [From in P]: readonly P[] };

/** Throws LifecycleTransitionError naming both phases unless `table` allows `from -> to`. */
export function checkTransition<P extends string>(
  table: TransitionTable<P>,
  subject: string,
  from: P,
  to: P,
): void {
  if (!table[from].includes(to)) {
    throw new LifecycleTransitionError(
      `${subject}: illegal transition ${from} -> ${to} (a bug in the runner agent; please report it)`,
    );
  }
}
