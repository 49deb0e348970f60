/**
 * Per-function figures of one pool: calls, failures by error code, p50/p95 over the most
 * recent calls, and the last failures (code, message, runner, time). Seeded from the
 * telemetry server's history, then kept up to date from live `callFinished` events.
 */
import type { FunctionFigures } from "@flame-ts/pool-core/telemetry";

/** Recent durations kept per function (the same bound as the server's history). */
const RECENT_CALLS = 256;
/** Failures listed under "Last failures". */
const MAX_FAILURES_SHOWN = 20;

export interface FunctionStats {
  readonly fn: string;
  calls: number;
  failed: number;
  readonly errors: Record<string, number>;
  /** Oldest first, at most RECENT_CALLS. */
  recentMs: number[];
}

export interface FailureEntry {
  readonly seq: number;
  readonly timeMs: number;
  readonly fn: string;
  readonly code: string;
  readonly message: string;
  readonly runnerId: string | null;
}

/** What a `callFinished` event carries that these figures use. */
export interface FinishedCall {
  readonly seq: number;
  readonly timeMs: number;
  readonly fn: string;
  readonly runnerId: string | null;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly errorCode?: string;
  readonly errorMessage?: string;
}

export function functionsFromHistory(
  figures: readonly FunctionFigures[],
): Map<string, FunctionStats> {
  const map = new Map<string, FunctionStats>();
  for (const f of figures) {
    map.set(f.fn, {
      fn: f.fn,
      calls: f.calls,
      failed: f.failed,
      errors: { ...f.errors },
      recentMs: f.recentMs.slice(-RECENT_CALLS),
    });
  }
  return map;
}

export function countCall(functions: Map<string, FunctionStats>, call: FinishedCall): void {
  let stats = functions.get(call.fn);
  if (stats === undefined) {
    stats = { fn: call.fn, calls: 0, failed: 0, errors: {}, recentMs: [] };
    functions.set(call.fn, stats);
  }
  stats.calls += 1;
  if (!call.ok) {
    stats.failed += 1;
    const code = call.errorCode ?? "UNKNOWN";
    stats.errors[code] = (stats.errors[code] ?? 0) + 1;
  }
  stats.recentMs.push(call.durationMs);
  if (stats.recentMs.length > RECENT_CALLS) stats.recentMs.shift();
}

/** Adds a failed call to the newest-first list of failures. */
export function recordFailure(failures: FailureEntry[], call: FinishedCall): void {
  if (call.ok) return;
  failures.unshift({
    seq: call.seq,
    timeMs: call.timeMs,
    fn: call.fn,
    code: call.errorCode ?? "UNKNOWN",
    message: call.errorMessage ?? "",
    runnerId: call.runnerId,
  });
  if (failures.length > MAX_FAILURES_SHOWN) failures.length = MAX_FAILURES_SHOWN;
}

export interface FunctionRow {
  readonly fn: string;
  readonly calls: number;
  readonly failed: number;
  /** "CODE ×n" pairs, most frequent first. */
  readonly errors: ReadonlyArray<readonly [string, number]>;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

/** Table rows, busiest function first. */
export function functionRows(functions: ReadonlyMap<string, FunctionStats>): FunctionRow[] {
  return [...functions.values()]
    .map((s) => {
      const sorted = [...s.recentMs].sort((a, b) => a - b);
      return {
        fn: s.fn,
        calls: s.calls,
        failed: s.failed,
        errors: Object.entries(s.errors).sort((a, b) => b[1] - a[1]),
        p50Ms: percentile(sorted, 0.5),
        p95Ms: percentile(sorted, 0.95),
      };
    })
    .sort((a, b) => b.calls - a.calls || a.fn.localeCompare(b.fn));
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? null;
}
