/**
 * Ready runners with a free slot, bucketed by load. Picking the least-loaded runner scans
 * buckets from the lowest load up — O(maxConcurrency) at worst and independent of the number
 * of runners — where FLAME scans every runner (Enum.min_by) on each checkout.
 */
export class LoadIndex {
  readonly #buckets: Array<Set<string>> = [];

  add(runnerId: string, load: number): void {
    let bucket = this.#buckets[load];
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets[load] = bucket;
    }
    bucket.add(runnerId);
  }

  remove(runnerId: string, load: number): void {
    this.#buckets[load]?.delete(runnerId);
  }

  has(runnerId: string, load: number): boolean {
    return this.#buckets[load]?.has(runnerId) ?? false;
  }

  /** The id of a runner with the lowest load, or undefined when no runner has a free slot. */
  leastLoaded(): string | undefined {
    for (const bucket of this.#buckets) {
      if (bucket !== undefined && bucket.size > 0) {
        return bucket.values().next().value;
      }
    }
    return undefined;
  }

  get size(): number {
    let total = 0;
    for (const bucket of this.#buckets) total += bucket?.size ?? 0;
    return total;
  }
}
