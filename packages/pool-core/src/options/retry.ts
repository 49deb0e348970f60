/** Retries of a call whose runner was lost: the `retry` option (per pool, or per call). */
import type { RetryPolicy } from "../core/types.js";
import { invalidOption } from "../errors.js";
import { graceMs, integer } from "./checks.js";

/**
 * Opt-in retries on infrastructure loss: a call whose runner died mid-call (RUNNER_DOWN: the
 * process, container or Machine went away) runs again on another runner. Never one whose
 * function threw (REMOTE_ERROR), never one whose runner answered (TIMEOUT, ABORTED), never a
 * cast or a child. Every attempt stays within the call's original `timeout`; the retried call
 * queues again by the usual rules (`maxWaiting`, FIFO behind those already waiting, `budget`).
 * Only worth it for idempotent functions.
 */
export interface RetryOption {
  /** How many more attempts after a runner loss. An integer ≥ 0; 0 turns retries off. */
  readonly runnerDown: number;
  /** Wait before each retry queues again, in ms (≥ 0). Default 100. */
  readonly backoffMs?: number;
}

export interface RetryOptions {
  /** Default: none (a runner loss fails the call with RUNNER_DOWN, as in FLAME). */
  readonly retry?: RetryOption;
}

export interface ResolvedRetry {
  /** null: no retries. */
  readonly retry: RetryPolicy | null;
}

/** At most this many retries: more would only hide a backend that keeps losing runners. */
const MAX_RETRIES = 100;
const DEFAULT_BACKOFF_MS = 100;

export function resolveRetry(o: RetryOptions): ResolvedRetry {
  return { retry: o.retry === undefined ? null : retryPolicy("retry", o.retry) };
}

/** Checks a `retry` value (pool option, or `field` = "retry" of one call). */
export function retryPolicy(field: string, value: unknown): RetryPolicy | null {
  if (typeof value !== "object" || value === null) {
    throw invalidOption(field, "an object { runnerDown, backoffMs? }", value);
  }
  const g = value as RetryOption;
  const runnerDown = integer(`${field}.runnerDown`, g.runnerDown, 0);
  if (runnerDown > MAX_RETRIES) {
    throw invalidOption(`${field}.runnerDown`, `an integer from 0 to ${MAX_RETRIES}`, runnerDown);
  }
  const backoffMs = graceMs(`${field}.backoffMs`, g.backoffMs ?? DEFAULT_BACKOFF_MS);
  return runnerDown === 0 ? null : { runnerDown, backoffMs };
}
