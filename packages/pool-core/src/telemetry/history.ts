/**
 * What `serveTelemetry` remembers of a pool so that a client connecting late sees the recent
 * past: per-second samples, notable events (scaling, crashes, control actions, failures) and
 * per-function figures. Everything is bounded: memory never grows with uptime or call rate.
 *
 * Worst case per pool with the defaults: 900 samples (~150 B each), 1,000 events (~300 B),
 * 50 failures, 200 functions × 256 recent durations (8 B): about 0.9 MB.
 */
import type { PoolEvent, PoolEvents } from "./events.js";
import type { FunctionFigures, TelemetryHistory, TelemetrySample } from "./stream-messages.js";

export interface HistoryLimits {
  /** How far back samples and events reach. */
  readonly historyMs: number;
  readonly samplePeriodMs: number;
  /** Notable events kept (the oldest go first). */
  readonly maxEvents: number;
}

/** Failed calls kept for "last failures", on top of `maxEvents`. */
export const MAX_FAILURES = 50;
/** Functions tracked per pool; calls to others are counted under `OTHER_FUNCTIONS`. */
const MAX_FUNCTIONS = 200;
const OTHER_FUNCTIONS = "(other functions)";
/** Recent durations kept per function for its p50/p95. */
const RECENT_DURATIONS = 256;

interface FunctionCounters {
  calls: number;
  failed: number;
  errors: Record<string, number>;
  /** Ring of the last RECENT_DURATIONS durations; `next` is the oldest once full. */
  recentMs: number[];
  next: number;
}

export class PoolHistory {
  readonly #events: PoolEvents;
  readonly #limits: HistoryLimits;
  readonly #samples: TelemetrySample[] = [];
  readonly #notable: PoolEvent[] = [];
  readonly #failures: PoolEvent[] = [];
  readonly #functions = new Map<string, FunctionCounters>();
  #periodDurations: number[] = [];
  #periodFailed = 0;
  #periodBootMs: number | null = null;
  readonly #unsubscribe: () => void;

  constructor(events: PoolEvents, limits: HistoryLimits) {
    this.#events = events;
    this.#limits = limits;
    this.#unsubscribe = events.subscribe((event) => this.#record(event));
  }

  close(): void {
    this.#unsubscribe();
  }

  /** Closes the current period: one sample from the live snapshot and the period's calls. */
  takeSample(nowMs: number): TelemetrySample {
    const s = this.#events.snapshot();
    let runners = 0;
    let booting = 0;
    let slotsUsed = 0;
    let queued = 0;
    for (const runner of s.runners) {
      if (runner.state === "booting") booting += 1;
      else runners += 1;
      slotsUsed += runner.inflight;
      queued += runner.queued;
    }
    const durations = this.#periodDurations.sort((a, b) => a - b);
    const sample: TelemetrySample = {
      timeMs: nowMs,
      periodMs: this.#limits.samplePeriodMs,
      runners,
      booting: Math.max(booting, s.pendingBoots),
      slotsUsed,
      queued,
      waiting: s.waiting,
      calls: durations.length,
      failed: this.#periodFailed,
      p50Ms: percentile(durations, 0.5),
      p95Ms: percentile(durations, 0.95),
      bootMs: this.#periodBootMs,
    };
    this.#periodDurations = [];
    this.#periodFailed = 0;
    this.#periodBootMs = null;
    this.#samples.push(sample);
    const maxSamples = Math.ceil(this.#limits.historyMs / this.#limits.samplePeriodMs);
    if (this.#samples.length > maxSamples)
      this.#samples.splice(0, this.#samples.length - maxSamples);
    return sample;
  }

  /** A copy for a client that just connected (events of the last `historyMs` only). */
  read(nowMs: number): TelemetryHistory {
    const since = nowMs - this.#limits.historyMs;
    const events = [...this.#notable, ...this.#failures]
      .filter((event) => event.timeMs >= since)
      .sort((a, b) => a.seq - b.seq);
    const functions: FunctionFigures[] = [];
    for (const [fn, c] of this.#functions) {
      const recentMs =
        c.recentMs.length < RECENT_DURATIONS
          ? [...c.recentMs]
          : [...c.recentMs.slice(c.next), ...c.recentMs.slice(0, c.next)];
      functions.push({ fn, calls: c.calls, failed: c.failed, errors: { ...c.errors }, recentMs });
    }
    return {
      historyMs: this.#limits.historyMs,
      samples: this.#samples.filter((sample) => sample.timeMs >= since),
      events,
      functions,
    };
  }

  #record(event: PoolEvent): void {
    switch (event.type) {
      case "callFinished": {
        this.#periodDurations.push(event.durationMs);
        this.#countCall(event.fn, event.durationMs, event.ok ? undefined : event.errorCode);
        if (!event.ok) {
          this.#periodFailed += 1;
          push(this.#failures, event, MAX_FAILURES);
        }
        return;
      }
      case "checkoutWaited":
        return;
      case "runnerUp":
        this.#periodBootMs = Math.max(this.#periodBootMs ?? 0, event.bootMs);
        push(this.#notable, event, this.#limits.maxEvents);
        return;
      default:
        push(this.#notable, event, this.#limits.maxEvents);
    }
  }

  #countCall(fn: string, durationMs: number, errorCode: string | undefined): void {
    let c = this.#functions.get(fn);
    if (c === undefined) {
      const key = this.#functions.size < MAX_FUNCTIONS ? fn : OTHER_FUNCTIONS;
      c = this.#functions.get(key);
      if (c === undefined) {
        c = { calls: 0, failed: 0, errors: {}, recentMs: [], next: 0 };
        this.#functions.set(key, c);
      }
    }
    c.calls += 1;
    if (errorCode !== undefined) {
      c.failed += 1;
      c.errors[errorCode] = (c.errors[errorCode] ?? 0) + 1;
    }
    if (c.recentMs.length < RECENT_DURATIONS) c.recentMs.push(durationMs);
    else {
      c.recentMs[c.next] = durationMs;
      c.next = (c.next + 1) % RECENT_DURATIONS;
    }
  }
}

function push(ring: PoolEvent[], event: PoolEvent, max: number): void {
  ring.push(event);
  if (ring.length > max) ring.splice(0, ring.length - max);
}

/** Nearest-rank percentile of sorted values; null when there are none. */
function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? null;
}
