/**
 * The limits on what a pool sends its runners, one rule each. The pool's options
 * (options validation) and the runner descriptor (both the parent's encoder and the agent's
 * decoder) check the same value with the same rule, so an option the pool accepts is never a
 * descriptor a runner refuses.
 */

export interface Limit {
  /** What the value must be, as an error message says it ("an integer ≥ 1024"). */
  readonly expected: string;
  readonly accepts: (value: unknown) => boolean;
}

const integerAtLeast = (least: number): Limit => ({
  expected: `an integer ≥ ${least}`,
  accepts: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= least,
});

const positiveMs: Limit = {
  expected: "a positive number of milliseconds",
  accepts: (v) => typeof v === "number" && Number.isFinite(v) && v > 0,
};

const nonNegativeMs: Limit = {
  expected: "a number of milliseconds ≥ 0",
  accepts: (v) => typeof v === "number" && Number.isFinite(v) && v >= 0,
};

/** The smallest frame limit: below it a hello with a few function ids would not fit. */
export const MIN_FRAME_BYTES = 1024;

export const LIMITS = {
  maxFrameBytes: integerAtLeast(MIN_FRAME_BYTES),
  maxConcurrency: integerAtLeast(1),
  failsafeTimeoutMs: positiveMs,
  shutdownTimeoutMs: nonNegativeMs,
  idleShutdownAfterMs: nonNegativeMs,
  heartbeatIntervalMs: positiveMs,
  heartbeatTimeoutMs: positiveMs,
  executionMode: {
    expected: '"threads" or "inline"',
    accepts: (v) => v === "threads" || v === "inline",
  },
  threads: integerAtLeast(1),
  /** A call's idempotency key: its length travels as one byte of the work frame. */
  idempotencyKey: {
    expected: "a non-empty string of at most 255 UTF-8 bytes",
    accepts: (v) => typeof v === "string" && v.length > 0 && Buffer.byteLength(v) <= 255,
  },
  terminateGraceMs: nonNegativeMs,
  /**
   * Whole MiB: it becomes a worker's `resourceLimits.maxOldGenerationSizeMb`, which takes MiB,
   * and a fraction there would be rounded by V8 where nobody sees it.
   */
  threadMemoryMb: {
    expected: "a whole number of MiB ≥ 1",
    accepts: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 1,
  },
} as const satisfies Record<string, Limit>;

/**
 * A link is judged silent after `heartbeatTimeoutMs` without a frame or pong: it must exceed
 * the ping interval, or a healthy peer would be dropped between two pings.
 */
export function heartbeatTimeoutFits(intervalMs: number, timeoutMs: number): boolean {
  return timeoutMs > intervalMs;
}
