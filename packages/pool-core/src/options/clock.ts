/** The pool's one time base: the `clock` option and the real clock it defaults to. */
import { invalidOption } from "../errors.js";
import type { Clock } from "../protocol/deadline-timer.js";
import { type LongTimer, setLongTimeout } from "../protocol/timers.js";

export type { Clock };

export interface ClockOptions {
  /**
   * The pool's one time base. Default: `realClock`, monotonic (`performance.timeOrigin +
   * performance.now()`, readable as epoch ms in events). Inject a virtual clock to run the
   * pool on virtual time in tests.
   */
  readonly clock?: Clock;
}

export interface ResolvedClock {
  readonly clock: Clock;
}

export function resolveClock(o: ClockOptions): ResolvedClock {
  const clock = o.clock;
  if (clock === undefined) return { clock: realClock };
  for (const key of ["nowMs", "setTimer", "clearTimer"] as const) {
    if (typeof clock[key] !== "function") {
      throw invalidOption(`clock.${key}`, "a function", clock[key]);
    }
  }
  return { clock };
}

/**
 * The host's one time base: monotonic (performance.now, so a wall-clock step cannot fire or
 * stall a deadline) but offset by the process's start time, so readings also serve as epoch
 * ms in events and snapshots. Node timers fire at it.
 */
const timeOrigin = performance.timeOrigin;
export const realClock: Clock = {
  nowMs: () => timeOrigin + performance.now(),
  // Re-armed past 2^31−1 ms: a plain setTimeout would fire a 30-day deadline at once.
  setTimer(atMs, fn) {
    return setLongTimeout(fn, atMs - (timeOrigin + performance.now()));
  },
  clearTimer(handle) {
    (handle as LongTimer | null)?.clear();
  },
};
