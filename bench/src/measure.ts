/**
 * How the bench times things: closed-loop callers, each issuing its next call as soon as the
 * last one settles, so `concurrency` calls are always in flight. Latencies are wall-clock
 * round trips seen by the caller.
 */
import { performance } from "node:perf_hooks";

export interface LoadResult {
  readonly calls: number;
  readonly elapsedMs: number;
  /** Sorted ascending, milliseconds. */
  readonly latenciesMs: Float64Array;
}

export interface LoadOptions {
  readonly calls: number;
  readonly concurrency: number;
}

/** Runs `calls` invocations of `callOnce(i)` with `concurrency` in flight. */
export async function runClosedLoop(
  callOnce: (index: number) => Promise<unknown>,
  { calls, concurrency }: LoadOptions,
): Promise<LoadResult> {
  const latenciesMs = new Float64Array(calls);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const index = next++;
      const startedMs = performance.now();
      await callOnce(index);
      latenciesMs[index] = performance.now() - startedMs;
    }
  };
  const startedMs = performance.now();
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.min(concurrency, calls); i++) workers.push(worker());
  await Promise.all(workers);
  const elapsedMs = performance.now() - startedMs;
  latenciesMs.sort();
  return { calls, elapsedMs, latenciesMs };
}

/** Nearest-rank percentile of an ascending array; `p` in [0, 100]. */
export function percentile(sortedAscending: Float64Array, p: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedAscending.length) - 1;
  return sortedAscending[Math.min(Math.max(rank, 0), sortedAscending.length - 1)]!;
}

export function callsPerSecond(result: LoadResult): number {
  return (result.calls / result.elapsedMs) * 1000;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Times one async action, in milliseconds. */
export async function timeMs(action: () => Promise<unknown>): Promise<number> {
  const startedMs = performance.now();
  await action();
  return performance.now() - startedMs;
}
