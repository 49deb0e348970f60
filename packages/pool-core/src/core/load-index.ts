/**
 * Ready runners with a free slot, bucketed by load. Picking the least-loaded runner scans
 * buckets from the lowest load up — O(maxConcurrency) at worst and independent of the number
 * of runners — where FLAME scans every runner (Enum.min_by) on each checkout.
 *
 * Each bucket is an array of runners with swap-remove, so add, remove and pick are O(1). A
 * runner's place in its bucket is kept ON the runner (`freeSlot`, intrusive), not in a
 * Map from its id: with 10,000 runners that Map was the largest table on the crash+replace
 * path (a cold entry read for the dead runner, a new key for its replacement, and a rehash of
 * the whole table — a fresh 10,000-entry backing store — every few thousand replacements),
 * measured at about a tenth of that path's time (issue 23). A field costs one write and no hash.
 *
 * Among runners with the same load the most recently added one is picked (LIFO): the runner
 * that just finished a call is reused, so after a spike the surplus runners stay idle and
 * shut down (what FLAME PR #76 asks for), rather than round-robin keeping all of them warm.
 */

/** `freeSlot` of a runner that is in no bucket. */
export const NOT_INDEXED = -1;

/** What the index keeps on each runner: its position in its bucket, or NOT_INDEXED. */
export interface Indexable {
  readonly id: string;
  /** Owned by `LoadIndex`: written only by it. */
  freeSlot: number;
}

export class LoadIndex<T extends Indexable> {
  readonly #buckets: T[][] = [];
  #size = 0;

  add(runner: T, load: number): void {
    if (runner.freeSlot !== NOT_INDEXED) throw new Error(`runner ${runner.id} is already indexed`);
    let bucket = this.#buckets[load];
    if (bucket === undefined) {
      for (let i = this.#buckets.length; i <= load; i += 1) this.#buckets.push([]);
      bucket = this.#buckets[load] as T[];
    }
    runner.freeSlot = bucket.length;
    bucket.push(runner);
    this.#size += 1;
  }

  /** Takes `runner` out of bucket `load`; a no-op when it is not there. */
  remove(runner: T, load: number): void {
    const bucket = this.#buckets[load];
    const position = runner.freeSlot;
    if (bucket === undefined || position === NOT_INDEXED || bucket[position] !== runner) return;
    const last = bucket.pop() as T;
    if (last !== runner) {
      bucket[position] = last;
      last.freeSlot = position;
    }
    runner.freeSlot = NOT_INDEXED;
    this.#size -= 1;
  }

  /** Runners indexed at exactly `load` (load 0: idle ready runners). O(1). */
  countAt(load: number): number {
    return this.#buckets[load]?.length ?? 0;
  }

  has(runner: T, load: number): boolean {
    const position = runner.freeSlot;
    return position !== NOT_INDEXED && this.#buckets[load]?.[position] === runner;
  }

  /** A runner with the lowest load, or undefined when no runner has a free slot. */
  leastLoaded(): T | undefined {
    for (const bucket of this.#buckets) {
      if (bucket.length > 0) return bucket[bucket.length - 1];
    }
    return undefined;
  }

  get size(): number {
    return this.#size;
  }
}
