/** How flame-runner ends. Documented in README.md; backends read them to explain a dead runner. */
export const EXIT = {
  /** Asked to shut down, idle, single use done, or SIGTERM/SIGINT. */
  OK: 0,
  /** Bad FLAME_PARENT / flags, or the entry module failed to load. */
  BAD_CONFIG: 1,
  /** The parent could not be reached within failsafeTimeoutMs. */
  PARENT_UNREACHABLE: 2,
  /** The link to the parent was lost (closed, errored, or no heartbeat). */
  LINK_LOST: 3,
  /** The parent refused the runner (unauthorized or protocol mismatch). */
  REFUSED: 4,
  /** An exception escaped function code (uncaught, or an unhandled rejection): state is unknown. */
  CRASHED: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface AgentExit {
  readonly code: ExitCode;
  readonly reason: string;
}
