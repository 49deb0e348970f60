/**
 * When and how long to retry a Machines API request. FLAME retries a create on
 * 429/412/409/422; we do the same with exponential backoff and full jitter, bounded by the
 * caller's deadline instead of a fixed count. `retrying` is the one loop for callers without a
 * loop of their own (stop, destroy, lease release, retire reads, the reaper).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { FlyApiError } from "./client.js";

export { parseRetryAfterMs } from "./client.js";

/** Statuses worth another try: rate limited, conflicts/preconditions, transient capacity. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([409, 412, 422, 429]);

export interface BackoffPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 250, maxDelayMs: 4_000 };

/**
 * Delay before retry number `attempt` (1 = first retry): full jitter over an exponential
 * ceiling, never below `retryAfterMs` when the server sent Retry-After. `random` in [0, 1).
 */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  random: number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling / 2 + (random * ceiling) / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Refused for now (429/409/412/422). */
function isRefusedForNow(error: FlyApiError): boolean {
  return RETRYABLE_STATUSES.has(error.status);
}

/**
 * Fly said nothing about the request itself: rate limited (429), a 5xx, or no answer at all
 * (the request may or may not have been done).
 */
export function isUnanswered(error: FlyApiError): boolean {
  return error.status === 429 || error.status === 0 || error.status >= 500;
}

/** A failure worth another try: refused for now (429/409/412/422), a 5xx, or no answer at all. */
export function isTransient(error: unknown): boolean {
  return error instanceof FlyApiError && (isRefusedForNow(error) || isUnanswered(error));
}

export interface RetryOptions {
  /** Which Fly failures to try again. Default `isRefusedForNow` (429/409/412/422). */
  readonly retryable?: (error: FlyApiError) => boolean;
  /** No wait that would end after this (`Date.now()` ms): the last failure is thrown instead. */
  readonly deadlineMs?: number;
}

/**
 * Runs a Machines API call again on a retryable failure, with backoff, until it succeeds, fails
 * otherwise, `signal` aborts (a wait then rejects with the signal's reason) or the next wait
 * would pass `deadlineMs`.
 */
export async function retrying<T>(
  action: () => Promise<T>,
  signal: AbortSignal | undefined,
  options: RetryOptions = {},
): Promise<T> {
  const retryable = options.retryable ?? isRefusedForNow;
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof FlyApiError) || !retryable(error) || signal?.aborted) throw error;
      const delayMs = backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random(), error.retryAfterMs);
      if (options.deadlineMs !== undefined && Date.now() + delayMs > options.deadlineMs)
        throw error;
      await sleep(delayMs, undefined, signal ? { signal } : {});
    }
  }
}
