/**
 * The one real timer of a machine whose deadlines are data: the pool's core (host/mailbox.ts)
 * and the runner agent's lifecycle machine. After each step the owner calls `update`; when the
 * machine's next deadline is due, `tick` runs (the owner feeds the machine a tick).
 *
 * Re-armed lazily: a timer armed earlier than the next deadline stays armed, and when it fires
 * early it is set again for the deadline then due, without a tick. Each call adds a deadline and
 * its answer takes it away, so re-arming at every change cost a Node timer per call on both
 * ends (clear + set: ~750 bytes and ~1 µs of the parent's call path, issue 23); now a timer is
 * set only when a deadline comes earlier than the armed one, or after the armed one fired.
 * A timer left armed for a deadline that went away fires once, finds nothing due, and stops.
 */

/** Time source and the one kind of timer the host uses; inject a virtual one in tests. */
export interface Clock {
  /** Now, in ms; must never go backwards. */
  nowMs(): number;
  /** Calls `fn` once at (or after) `atMs` on this clock. */
  setTimer(atMs: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

export class DeadlineTimer {
  readonly #clock: Clock;
  readonly #nextDeadline: () => number | null;
  readonly #tick: () => void;
  #handle: unknown = null;
  /** When the armed timer fires; null: none armed. */
  #armedAtMs: number | null = null;
  #closed = false;
  readonly #fired = (): void => {
    this.#handle = null;
    this.#armedAtMs = null;
    const at = this.#nextDeadline();
    if (at === null || this.#closed) return;
    if (at > this.#clock.nowMs()) this.#arm(at);
    else this.#tick();
  };

  /** `nextDeadline`: the machine's earliest deadline now (null: none); `tick`: it is due. */
  constructor(clock: Clock, nextDeadline: () => number | null, tick: () => void) {
    this.#clock = clock;
    this.#nextDeadline = nextDeadline;
    this.#tick = tick;
  }

  /** The machine stepped: its next deadline may have moved. */
  update(): void {
    if (this.#closed) return;
    const at = this.#nextDeadline();
    if (at === null || (this.#armedAtMs !== null && this.#armedAtMs <= at)) return;
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#arm(at);
  }

  /** Drops the timer for good. */
  close(): void {
    this.#closed = true;
    if (this.#handle !== null) this.#clock.clearTimer(this.#handle);
    this.#handle = null;
    this.#armedAtMs = null;
  }

  #arm(atMs: number): void {
    this.#armedAtMs = atMs;
    this.#handle = this.#clock.setTimer(atMs, this.#fired);
  }
}
