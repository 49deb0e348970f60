/**
 * Client-side pacing for Fly's documented limits: 1 request per second per action per
 * Machine, bursts of 3 (Get Machine: 5/s, bursts of 10)
 * (https://fly.io/docs/machines/api/working-with-machines-api/#rate-limits).
 *
 * Why a slot is given back by the answer, not counted at departure. Fly (like the emulator)
 * counts a request when it arrives and is handled, some unknown time after it leaves here: our
 * event loop may lag between the send and the write, the network and Fly's own queue add more,
 * and none of that is bounded. A pacer that counts departures, with any fixed margin, can let a
 * request leave that arrives early for Fly's window: a first request slow to be counted and a
 * fourth, sent a second after the first left, counted at once (seen under CPU load). What IS
 * bounded is the other end: Fly counted a request before it answered it. So every request
 * holds a slot until its answer (or failure) is back, and the pacer assumes the worst: each
 * answered request was counted as late as it could have been (when its answer came) and each
 * unanswered one together with the next.
 *
 * Fly's limit is a token bucket (rate 1/T, burst b): requests conform as long as no interval of
 * length L holds more than b + L/T of them. A request leaving at `d` while u requests are
 * unanswered is let go only when u + 1 <= b and d >= TAT + (u + 1 - b)·T, TAT being the
 * bucket's theoretical arrival time (GCRA) over the answer times. Then any interval holding it
 * holds at most u + 1 requests counted at or after `d` and, before `d`, no more answered ones
 * than the worst case allows, so it conforms whatever the real arrival times were (each lies
 * between its departure and its answer). By construction Fly never refuses a request this lets
 * leave — provided this process is the only user of the budget (every client of the same API
 * URL and app shares one pacer), Fly applies its documented limits, and no request abandoned
 * mid-flight (counted here as answered when abandoned) reaches Fly later. Those are beyond any
 * client's knowledge, so the callers still retry a 429.
 *
 * The cost of the guarantee: past the burst a request waits for the earlier answers, i.e. one
 * round trip once, then the same 1/s as before. No latency margin is needed (or would help).
 */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

export const DEFAULT_ACTION_LIMIT: RateLimit = { perSecond: 1, burst: 3 };
export const GET_MACHINE_LIMIT: RateLimit = { perSecond: 5, burst: 10 };

/** Given back when the request's answer (or failure) is in; later calls do nothing. */
export type Answered = () => void;

interface Waiter {
  readonly grant: (answered: Answered) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Budget {
  readonly limit: RateLimit;
  /** Theoretical arrival time (GCRA) over the answer times: the worst case of Fly's bucket. */
  tatMs: number;
  /** Requests sent and not answered yet. */
  unanswered: number;
  /** Requests waiting for their turn, first come first served. */
  readonly queue: Waiter[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class ActionPacer {
  readonly #budgets = new Map<string, Budget>();
  readonly #now: () => number;

  /** `now`: a monotonic clock in ms (only intervals matter). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * Waits until a request for `key` (e.g. "stop:<machine id>") may leave, in turn behind the
   * earlier ones, and resolves with the function to call once its answer (or failure) is in.
   * `signal` aborts only the wait: the promise then rejects with the signal's reason.
   */
  acquire(key: string, limit: RateLimit, signal?: AbortSignal): Promise<Answered> {
    if (this.#budgets.size > 10_000) this.#forgetIdle();
    let budget = this.#budgets.get(key);
    if (!budget) {
      budget = {
        limit,
        tatMs: Number.NEGATIVE_INFINITY,
        unanswered: 0,
        queue: [],
        timer: undefined,
      };
      this.#budgets.set(key, budget);
    }
    const held = budget;
    if (held.queue.length === 0 && this.#waitMs(held) === 0)
      return Promise.resolve(this.#leave(held));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Answered>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          const at = held.queue.indexOf(waiter);
          if (at >= 0) held.queue.splice(at, 1);
          reject(signal?.reason);
          if (at === 0) this.#pump(held);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      held.queue.push(waiter);
      this.#pump(held);
    });
  }

  /** 0 when a request may leave now, Infinity until an answer comes, else ms to wait. */
  #waitMs(budget: Budget): number {
    const { burst, perSecond } = budget.limit;
    const together = budget.unanswered + 1;
    if (together > burst) return Number.POSITIVE_INFINITY;
    const earliestMs = budget.tatMs + (together - burst) * (1000 / perSecond);
    return Math.max(0, earliestMs - this.#now());
  }

  #leave(budget: Budget): Answered {
    budget.unanswered++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      budget.unanswered--;
      budget.tatMs = Math.max(this.#now(), budget.tatMs) + 1000 / budget.limit.perSecond;
      this.#pump(budget);
    };
  }

  /** Lets the queue's head go while it may; otherwise waits for time or for an answer. */
  #pump(budget: Budget): void {
    clearTimeout(budget.timer);
    budget.timer = undefined;
    for (let head = budget.queue[0]; head !== undefined; head = budget.queue[0]) {
      const waitMs = this.#waitMs(budget);
      // An answer calls #pump again; a timer that fires early finds waitMs > 0 and re-arms.
      if (waitMs === Number.POSITIVE_INFINITY) return;
      if (waitMs > 0) {
        budget.timer = setTimeout(() => this.#pump(budget), Math.ceil(waitMs));
        return;
      }
      budget.queue.shift();
      head.signal?.removeEventListener("abort", head.onAbort);
      head.grant(this.#leave(budget));
    }
  }

  /** Drops budgets as good as new, so the map does not grow with machine ids. */
  #forgetIdle(): void {
    const nowMs = this.#now();
    for (const [key, budget] of this.#budgets) {
      if (budget.unanswered === 0 && budget.queue.length === 0 && budget.tatMs <= nowMs)
        this.#budgets.delete(key);
    }
  }
}
