/**
 * How flame-runner ends: the agent exits with these and the parent and backends read them to
 * explain a dead runner (README.md of runner-agent documents them).
 */
export const RUNNER_EXIT = {
  /** Asked to shut down, idle, single use done, or SIGTERM/SIGINT. */
  OK: 0,
  /** Bad FLAME_PARENT / flags, or the entry module failed to load: retrying cannot help. */
  BAD_CONFIG: 1,
  /** The parent could not be reached within failsafeTimeoutMs. */
  PARENT_UNREACHABLE: 2,
  /** The link to the parent was lost (closed, errored, or no heartbeat). */
  LINK_LOST: 3,
  /** The parent refused the runner (401 at the upgrade, or a protocol mismatch). */
  REFUSED: 4,
  /** An exception escaped function code (uncaught, or an unhandled rejection): state is unknown. */
  CRASHED: 5,
} as const;

export type RunnerExitCode = (typeof RUNNER_EXIT)[keyof typeof RUNNER_EXIT];
