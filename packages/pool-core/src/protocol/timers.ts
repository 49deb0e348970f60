/**
 * Timers for user-sized durations. Node's setTimeout takes at most 2^31−1 ms (~24.8 days);
 * a longer delay fires after 1 ms instead (with a TimeoutOverflowWarning), so a 30-day call
 * timeout would fire at once or spin. `setLongTimeout` arms at most MAX_TIMER_MS at a time
 * and re-arms until the real due time, measured on the monotonic clock.
 */

/** Largest delay Node's setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Calls `fn` once, `delayMs` from now (clamped to ≥ 0; Infinity never fires). */
export function setLongTimeout(
  fn: () => void,
  delayMs: number,
  options: { unref?: boolean } = {},
): LongTimer {
  const dueAtMs = performance.now() + Math.max(0, delayMs);
  let handle: NodeJS.Timeout | null = null;
  const arm = (): void => {
    const leftMs = dueAtMs - performance.now();
    if (leftMs === Number.POSITIVE_INFINITY) return;
    if (leftMs > MAX_TIMER_MS) {
      handle = setTimeout(arm, MAX_TIMER_MS);
    } else {
      handle = setTimeout(
        () => {
          handle = null;
          fn();
        },
        Math.max(0, leftMs),
      );
    }
    if (options.unref === true) handle.unref();
  };
  arm();
  return {
    clear() {
      if (handle !== null) clearTimeout(handle);
      handle = null;
    },
  };
}

/** A delay safe to pass to setTimeout directly (for bounds that only need to be "long"). */
export function clampTimerMs(delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  return Math.min(delayMs, MAX_TIMER_MS);
}
