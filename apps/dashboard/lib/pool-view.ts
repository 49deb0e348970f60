/**
 * What the dashboard knows about one pool, built from the telemetry stream: the latest
 * snapshot (kept current between snapshots by applying events), per-second samples for the
 * charts, and a bounded event timeline. Pure functions over plain data: no React, no socket.
 */
import type { PoolEvent, RunnerSnapshot, SequencedSnapshot } from "@flame-ts/pool-core/telemetry";

export const SAMPLE_PERIOD_MS = 1_000;
/** 15 minutes of 1 s samples: the widest chart window. */
export const MAX_SAMPLES = 900;
export const MAX_TIMELINE = 200;

export interface Samples {
  /** Seconds since the epoch (uPlot's x unit). */
  readonly t: number[];
  readonly runners: number[];
  readonly booting: number[];
  readonly slotsUsed: number[];
  readonly waiting: number[];
  readonly callsPerSecond: number[];
  readonly p50Ms: Array<number | null>;
  readonly p95Ms: Array<number | null>;
  readonly bootMs: Array<number | null>;
}

export type TimelineKind =
  | "grow"
  | "up"
  | "shrink"
  | "bootFailed"
  | "crash"
  | "resize"
  | "timeout"
  | "stopped";

export interface TimelineEntry {
  readonly seq: number;
  readonly timeMs: number;
  readonly kind: TimelineKind;
  readonly text: string;
}

export interface PoolView {
  readonly name: string;
  snapshot: SequencedSnapshot;
  /** Highest seq applied; an event past lastSeq + 1 is a gap. */
  lastSeq: number;
  /** Set when a gap was seen and a fresh snapshot asked for. */
  awaitingSnapshot: boolean;
  gaps: number;
  readonly samples: Samples;
  readonly timeline: TimelineEntry[];
  totalCalls: number;
  failedCalls: number;
  /** Calls finished since the last sample (for calls/s and percentiles). */
  pendingDurations: number[];
  pendingBootMs: number[];
}

export function createPoolView(snapshot: SequencedSnapshot): PoolView {
  return {
    name: snapshot.name,
    snapshot,
    lastSeq: snapshot.seq,
    awaitingSnapshot: false,
    gaps: 0,
    samples: {
      t: [],
      runners: [],
      booting: [],
      slotsUsed: [],
      waiting: [],
      callsPerSecond: [],
      p50Ms: [],
      p95Ms: [],
      bootMs: [],
    },
    timeline: [],
    totalCalls: 0,
    failedCalls: 0,
    pendingDurations: [],
    pendingBootMs: [],
  };
}

/** A fresh snapshot replaces what events built up (the server restarted if seq went back). */
export function applySnapshot(view: PoolView, snapshot: SequencedSnapshot): void {
  view.snapshot = snapshot;
  view.lastSeq = snapshot.seq;
  view.awaitingSnapshot = false;
}

/**
 * Applies one event. Returns "gap" when events were missed: the caller asks for a snapshot.
 * Events already reflected by the snapshot (seq ≤ lastSeq) are ignored.
 */
export function applyEvent(view: PoolView, event: PoolEvent): "ok" | "stale" | "gap" {
  if (event.seq <= view.lastSeq) return "stale";
  const gap = event.seq !== view.lastSeq + 1;
  view.lastSeq = event.seq;
  if (gap) {
    view.gaps += 1;
    view.awaitingSnapshot = true;
  }
  record(view, event);
  if (!gap && !view.awaitingSnapshot) patchSnapshot(view, event);
  return gap ? "gap" : "ok";
}

function record(view: PoolView, event: PoolEvent): void {
  switch (event.type) {
    case "callFinished":
      view.totalCalls += 1;
      if (!event.ok) view.failedCalls += 1;
      view.pendingDurations.push(event.durationMs);
      return;
    case "runnerUp":
      view.pendingBootMs.push(event.bootMs);
      pushTimeline(view, event, "up", `runner ${event.runnerId} up in ${formatMs(event.bootMs)}`);
      return;
    case "growStart":
      pushTimeline(view, event, "grow", `grow to ${event.count}${event.isMin ? " (min)" : ""}`);
      return;
    case "bootFailed":
      pushTimeline(
        view,
        event,
        "bootFailed",
        `boot failed after ${formatMs(event.bootMs)}: ${event.error}`,
      );
      return;
    case "runnerDown": {
      // A runner the pool did not ask to leave crashed; without `expected`, judge by exit code.
      const crashed =
        event.expected === false ||
        (event.expected === undefined && event.exitCode !== null && event.exitCode !== 0);
      if (crashed) {
        pushTimeline(
          view,
          event,
          "crash",
          `runner ${event.runnerId} crashed (exit ${event.exitCode}): ${event.reason}`,
        );
      }
      return;
    }
    case "shrink":
      pushTimeline(
        view,
        event,
        "shrink",
        `shrink to ${event.count}: ${event.runnerId} (${event.reason})`,
      );
      return;
    case "resize":
      pushTimeline(view, event, "resize", `resized to min ${event.min}, max ${event.max}`);
      return;
    case "checkoutTimeout":
      pushTimeline(
        view,
        event,
        "timeout",
        `a caller timed out after waiting ${formatMs(event.waitedMs)}`,
      );
      return;
    case "stopped":
      pushTimeline(view, event, "stopped", "pool stopped");
      return;
    default:
      return;
  }
}

/** Keeps the runner list live between periodic snapshots. */
function patchSnapshot(view: PoolView, event: PoolEvent): void {
  const s = view.snapshot;
  switch (event.type) {
    case "runnerUp": {
      const runner: RunnerSnapshot = {
        id: event.runnerId,
        state: "ready",
        inflight: 0,
        isMin: event.isMin,
        bootedAtMs: event.timeMs,
        callsServed: 0,
        meta: event.meta,
      };
      // The booting placeholder for this runner (if the snapshot had one) becomes ready.
      const runners = s.runners.filter((r) => r.id !== event.runnerId);
      view.snapshot = {
        ...s,
        seq: event.seq,
        pendingBoots: Math.max(0, s.pendingBoots - 1),
        runners: [...runners, runner],
      };
      return;
    }
    case "runnerDown":
      view.snapshot = {
        ...s,
        seq: event.seq,
        runners: s.runners.filter((r) => r.id !== event.runnerId),
      };
      return;
    case "resize":
      view.snapshot = { ...s, seq: event.seq, min: event.min, max: event.max };
      return;
    case "callFinished":
      if (event.runnerId !== null) {
        view.snapshot = {
          ...s,
          seq: event.seq,
          runners: s.runners.map((r) =>
            r.id === event.runnerId ? { ...r, callsServed: r.callsServed + 1 } : r,
          ),
        };
      }
      return;
    default:
      view.snapshot = { ...s, seq: event.seq };
      return;
  }
}

/** Closes the current sample period: one point per chart series. */
export function takeSample(view: PoolView, nowMs: number, periodMs = SAMPLE_PERIOD_MS): void {
  const s = view.snapshot;
  let ready = 0;
  let booting = 0;
  let used = 0;
  for (const runner of s.runners) {
    if (runner.state === "booting") booting += 1;
    else ready += 1;
    used += runner.inflight;
  }
  const durations = view.pendingDurations.sort((a, b) => a - b);
  const samples = view.samples;
  samples.t.push(nowMs / 1_000);
  samples.runners.push(ready);
  samples.booting.push(Math.max(booting, s.pendingBoots));
  samples.slotsUsed.push(used);
  samples.waiting.push(s.waiting);
  samples.callsPerSecond.push((durations.length * 1_000) / periodMs);
  samples.p50Ms.push(percentile(durations, 0.5));
  samples.p95Ms.push(percentile(durations, 0.95));
  samples.bootMs.push(view.pendingBootMs.length === 0 ? null : Math.max(...view.pendingBootMs));
  view.pendingDurations = [];
  view.pendingBootMs = [];
  if (samples.t.length > MAX_SAMPLES) {
    for (const series of Object.values(samples) as unknown[][]) series.shift();
  }
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? null;
}

function pushTimeline(view: PoolView, event: PoolEvent, kind: TimelineKind, text: string): void {
  view.timeline.unshift({ seq: event.seq, timeMs: event.timeMs, kind, text });
  if (view.timeline.length > MAX_TIMELINE) view.timeline.length = MAX_TIMELINE;
}

export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${Math.round((ms % 60_000) / 1_000)}s`;
}
