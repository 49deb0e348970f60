/** How runners execute your functions: the `execution` option. */
import { type ExecutionSettings, LIMITS } from "../wire/index.js";
import { group, within } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

/**
 * How runners execute your functions. The default, worker threads, suits CPU-bound work and
 * anything that may block: the runner's link and heartbeat stay responsive, deadlines stop
 * work for real, and a crash or out-of-memory fails only the calls on that thread.
 */
export interface ExecutionOption {
  /**
   * "threads" (default): each function runs on a worker thread of the runner. "inline": on
   * the runner's own event loop — saves the thread hop (tens of µs) for tiny I/O-bound
   * functions, but a function that blocks the loop stalls every call on that runner, and a
   * function that ignores its signal cannot be stopped at its deadline.
   */
  readonly mode?: "threads" | "inline";
  /**
   * Worker threads per runner. Default: min(maxConcurrency, CPUs the runner may use), where
   * CPUs count the container's cgroup CPU quota (Docker `cpus`, Fly `guest.cpus`). With more
   * calls than threads, calls share threads (spread least-loaded).
   */
  readonly threads?: number;
  /**
   * After a call's deadline or cancel aborts `ctx.signal`, how long (ms) the function may keep
   * running before its thread is terminated and replaced (FLAME's Terminator). Default 1,000.
   */
  readonly terminateGraceMs?: number;
  /** Heap cap per worker thread in whole MiB; a thread past it fails its calls and is replaced. Default: Node's. */
  readonly threadMemoryMb?: number;
}

export interface ExecutionOptions {
  /** How runners execute functions; see ExecutionOption. Default `{ mode: "threads" }`. */
  readonly execution?: ExecutionOption;
}

export interface ResolvedExecution {
  readonly execution: ExecutionSettings;
}

export function resolveExecution(o: ExecutionOptions): ResolvedExecution {
  const e = group(
    "execution",
    o.execution,
    "{ mode?, threads?, terminateGraceMs?, threadMemoryMb? }",
  );
  // The runner descriptor checks the same fields with the same limits (wire/limits.ts).
  const mode = within("execution.mode", LIMITS.executionMode, e.mode ?? "threads");
  const threads =
    e.threads === undefined ? null : within("execution.threads", LIMITS.threads, e.threads);
  const terminateGraceMs = within(
    "execution.terminateGraceMs",
    LIMITS.terminateGraceMs,
    e.terminateGraceMs ?? DEFAULTS.terminateGraceMs,
  );
  const threadMemoryMb =
    e.threadMemoryMb === undefined
      ? null
      : within("execution.threadMemoryMb", LIMITS.threadMemoryMb, e.threadMemoryMb);
  return { execution: { mode, threads, terminateGraceMs, threadMemoryMb } };
}
