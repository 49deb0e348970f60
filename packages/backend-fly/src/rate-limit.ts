/**
 * Client-side pacing for Fly's documented limits: 1 request per second per action per
 * Machine, bursts of 3 (Get Machine: 5/s, bursts of 10)
 * (https://fly.io/docs/machines/api/working-with-machines-api/#rate-limits).
 * Pacing here means we rarely see a 429 at all; the retry loop handles the ones we do.
 *
 * Pure: the caller passes the time and sleeps for the returned delay.
 */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

export const DEFAULT_ACTION_LIMIT: RateLimit = { perSecond: 1, burst: 3 };
export const GET_MACHINE_LIMIT: RateLimit = { perSecond: 5, burst: 10 };

const PACING_MARGIN_MS = 100;

interface Bucket {
  tokens: number;
  atMs: number;
}

export class ActionPacer {
  readonly #buckets = new Map<string, Bucket>();

  /**
   * Takes one token for `key` (e.g. "stop:<machine id>") and returns how long the caller must
   * wait before sending (0 = now). Reservations queue: a second caller waits behind the first.
   */
  reserve(key: string, limit: RateLimit, nowMs: number): number {
    const bucket = this.#buckets.get(key) ?? { tokens: limit.burst, atMs: nowMs };
    const refilled = Math.min(
      limit.burst,
      bucket.tokens + ((nowMs - bucket.atMs) / 1000) * limit.perSecond,
    );
    const tokens = refilled - 1;
    this.#buckets.set(key, { tokens, atMs: nowMs });
    if (this.#buckets.size > 10_000) this.#forgetFull(nowMs, limit);
    // The margin absorbs latency jitter: Fly counts arrivals, we count departures.
    return tokens >= 0 ? 0 : Math.ceil((-tokens / limit.perSecond) * 1000) + PACING_MARGIN_MS;
  }

  /** Drops buckets that have refilled completely, so the map does not grow with machine ids. */
  #forgetFull(nowMs: number, limit: RateLimit): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((nowMs - bucket.atMs) / 1000) * limit.perSecond >= limit.burst)
        this.#buckets.delete(key);
    }
  }
}
