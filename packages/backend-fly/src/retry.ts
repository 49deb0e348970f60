/**
 * When and how long to retry a Machines API request. FLAME retries a create on
 * 429/412/409/422; we do the same with exponential backoff and full jitter, bounded by the
 * caller's deadline instead of a fixed count.
 */

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

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds from `nowMs`. */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const atMs = Date.parse(header);
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
}
