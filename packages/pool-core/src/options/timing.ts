/** How long calls, boots and shutdowns may take: `timeout`, `bootTimeout`, `shutdownTimeout`. */
import { duration, durationOrNever } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

export interface TimingOptions {
  /**
   * A call's budget in ms, waiting for a slot plus running (FLAME's rule), unless the call
   * passes its own `timeout`. Default 30,000; `Infinity` for none. Past it the call fails
   * `TIMEOUT` and the runner aborts the function's `ctx.signal`. A call that queues behind a
   * boot may wait up to `max(timeout, bootTimeout)` for its slot (README "Timeouts").
   */
  readonly timeout?: number;
  /**
   * Budget in ms for one boot: the backend's work plus the runner's hello. Default 30,000.
   * Past it the boot is aborted, whatever started is stopped, and the boot fails
   * `BOOT_FAILED`.
   */
  readonly bootTimeout?: number;
  /**
   * How long (ms) a runner that is asked to leave (idle, single use, resize, `stop`, `drain`)
   * may finish its work before its backend kills it (a `runnerKilled` event says so).
   * Default 30,000. A kill that is never confirmed is given up after min(this, 10 s).
   */
  readonly shutdownTimeout?: number;
}

export interface ResolvedTiming {
  /** null: no deadline. */
  readonly timeoutMs: number | null;
  readonly bootTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
}

export function resolveTiming(o: TimingOptions): ResolvedTiming {
  return {
    timeoutMs: durationOrNever("timeout", o.timeout ?? DEFAULTS.timeout),
    bootTimeoutMs: duration("bootTimeout", o.bootTimeout ?? DEFAULTS.bootTimeout),
    shutdownTimeoutMs: duration("shutdownTimeout", o.shutdownTimeout ?? DEFAULTS.shutdownTimeout),
  };
}

/** `pool.drain({ timeout })`: ms, or Infinity for no bound; defaults to the pool's `timeout`. */
export function resolveDrainTimeout(value: unknown, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  return durationOrNever("drain.timeout", value);
}
