/**
 * Runner time spent in a rolling window, for `budget: { runnerMs, windowMs }`: each boot opens
 * a segment (boot start) and its runner's exit (or the boot's failure) closes it. What counts
 * is the part of every segment inside [now − window, now].
 *
 * Closed segments are kept only while they overlap the window, in the order they closed
 * (closing happens at "now", which never goes back), so pruning pops from the front.
 * `spentMs` is O(open + recently closed): it runs only when a boot is about to start and a
 * budget is set, never on the checkout path.
 */
export class RunnerTimeLedger {
  readonly #windowMs: number;
  readonly #open = new Map<string, number>();
  #closed: Array<{ readonly startMs: number; readonly endMs: number }> = [];
  #closedHead = 0;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  open(id: string, startMs: number): void {
    this.#open.set(id, startMs);
  }

  close(id: string, endMs: number): void {
    const startMs = this.#open.get(id);
    if (startMs === undefined) return;
    this.#open.delete(id);
    if (this.#windowMs > 0) this.#closed.push({ startMs, endMs });
  }

  /** Runner milliseconds inside the window ending at `nowMs`. */
  spentMs(nowMs: number): number {
    const from = nowMs - this.#windowMs;
    while (this.#closedHead < this.#closed.length) {
      const first = this.#closed[this.#closedHead];
      if (first === undefined || first.endMs > from) break;
      this.#closedHead += 1;
    }
    if (this.#closedHead > 1_024 && this.#closedHead * 2 > this.#closed.length) {
      this.#closed = this.#closed.slice(this.#closedHead);
      this.#closedHead = 0;
    }
    let spent = 0;
    for (let i = this.#closedHead; i < this.#closed.length; i += 1) {
      const segment = this.#closed[i] as { startMs: number; endMs: number };
      spent += segment.endMs - Math.max(segment.startMs, from);
    }
    for (const startMs of this.#open.values()) spent += nowMs - Math.max(startMs, from);
    return spent;
  }
}
