/**
 * How flame-runner ends. The codes are pool-core's (`RUNNER_EXIT` in its wire module), which
 * the parent reads too; documented in README.md.
 */
import { RUNNER_EXIT, type RunnerExitCode } from "@flame-ts/pool-core/wire";

export const EXIT = RUNNER_EXIT;
export type ExitCode = RunnerExitCode;

export interface AgentExit {
  readonly code: ExitCode;
  readonly reason: string;
}
