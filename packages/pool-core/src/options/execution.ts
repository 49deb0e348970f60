/** How runners execute your functions: the `execution` option. */
import { invalidOption } from "../errors.js";
import { type ExecutionSettings, LIMITS } from "../wire/index.js";
import { graceMs, group, integer } from "./checks.js";
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
  const mode = e.mode ?? "threads";
  if (mode !== "threads" && mode !== "inline") {
    throw invalidOption("execution.mode", '"threads" or "inline"', mode);
  }
  const threads = e.threads === undefined ? null : integer("execution.threads", e.threads, 1);
  const terminateGraceMs = graceMs(
    "execution.terminateGraceMs",
    e.terminateGraceMs ?? DEFAULTS.terminateGraceMs,
  );
  const memory = e.threadMemoryMb;
  if (memory !== undefined && !LIMITS.threadMemoryMb.accepts(memory)) {
    throw invalidOption("execution.threadMemoryMb", LIMITS.threadMemoryMb.expected, memory);
  }
  return { execution: { mode, threads, terminateGraceMs, threadMemoryMb: memory ?? null } };
}
