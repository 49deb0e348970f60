/**
 * What the dashboard knows about one pool, built from the telemetry stream only: the history
 * the server replays on connect, the latest snapshot, the server's per-second samples for the
 * charts, a bounded event timeline, and per-function figures. Pure functions over plain data:
 * no React, no socket.
 *
 * The pool's state shown (runners, limits, boots, draining) is always the pool's own latest
 * snapshot, never rebuilt here from events: the server sends a fresh snapshot after every batch
 * that changes a pool's shape. Events say what happened (the timeline, the figures) as the pool
 * reported it: an exit is a crash or an operator's kill because the pool says so.
 */
import type {
  PoolEvent,
  SequencedSnapshot,
  TelemetryHistory,
  TelemetrySample,
} from "@flame-ts/pool-core/telemetry";
import {
  countCall,
  type FailureEntry,
  type FunctionStats,
  functionsFromHistory,
  recordFailure,
} from "./function-figures";

/** 15 minutes of 1 s samples: the widest chart window. */
export const MAX_SAMPLES = 900;
const MAX_TIMELINE = 200;

export interface Samples {
  /** Seconds since the epoch (uPlot's x unit). */
  readonly t: number[];
  readonly runners: number[];
  readonly booting: number[];
  readonly slotsUsed: number[];
  /** Calls the runners hold queued beyond their slots (`prefetch`). */
  readonly queued: number[];
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
  | "killed"
  | "down"
  | "resize"
  | "timeout"
  | "control"
  | "refused"
  | "overloaded"
  | "budget"
  | "stopped";

export interface TimelineEntry {
  readonly seq: number;
  readonly timeMs: number;
  readonly kind: TimelineKind;
  readonly text: string;
}

/**
 * Events of the pool rules that land with issue 14 (overload and budget); accepted before
 * `PoolEvent` lists them, so the dashboard works with pools of either version.
 */
export type RuleEventBody =
  | { readonly type: "overloaded"; readonly waiting: number; readonly maxWaiting: number }
  | { readonly type: "budgetBlocked"; readonly spentMs: number; readonly budgetMs: number };
export type ViewEvent =
  | PoolEvent
  | (RuleEventBody & { readonly seq: number; readonly timeMs: number; readonly pool: string });

/** Optional snapshot fields of the same rules; absent on pools without them. */
export interface PoolRules {
  readonly maxWaiting?: number | null;
  readonly buffer?: number;
  readonly budget?: {
    readonly runnerMs: number;
    readonly windowMs: number;
    readonly spentMs: number;
  } | null;
  readonly draining?: boolean;
}

export interface PoolView {
  readonly name: string;
  snapshot: SequencedSnapshot & PoolRules;
  /** Highest seq applied; an event past lastSeq + 1 is a gap. */
  lastSeq: number;
  /** Set when a gap was seen and a fresh snapshot asked for. */
  awaitingSnapshot: boolean;
  gaps: number;
  samples: Samples;
  timeline: TimelineEntry[];
  totalCalls: number;
  failedCalls: number;
  functions: Map<string, FunctionStats>;
  failures: FailureEntry[];
  /** Callers refused OVERLOADED, and boots refused by the budget, seen so far. */
  overloaded: number;
  budgetBlocked: number;
}

function emptySamples(): Samples {
  return {
    t: [],
    runners: [],
    booting: [],
    slotsUsed: [],
    queued: [],
    waiting: [],
    callsPerSecond: [],
    p50Ms: [],
    p95Ms: [],
    bootMs: [],
  };
}

export function createPoolView(snapshot: SequencedSnapshot): PoolView {
  return {
    name: snapshot.name,
    snapshot,
    lastSeq: snapshot.seq,
    awaitingSnapshot: false,
    gaps: 0,
    samples: emptySamples(),
    timeline: [],
    totalCalls: 0,
    failedCalls: 0,
    functions: new Map(),
    failures: [],
    overloaded: 0,
    budgetBlocked: 0,
  };
}

/**
 * Starts a view over from the server's history (sent on every connect, before the snapshot):
 * charts, timeline, per-function figures and failures show what happened before the page came.
 */
export function applyHistory(view: PoolView, history: TelemetryHistory): void {
  view.samples = emptySamples();
  for (const sample of history.samples) applySample(view, sample);
  view.timeline = [];
  view.failures = [];
  view.overloaded = 0;
  view.budgetBlocked = 0;
  view.functions = functionsFromHistory(history.functions);
  view.totalCalls = 0;
  view.failedCalls = 0;
  for (const stats of view.functions.values()) {
    view.totalCalls += stats.calls;
    view.failedCalls += stats.failed;
  }
  for (const event of history.events as readonly ViewEvent[]) record(view, event, false);
}

/** The pool's state as it reports it (the server restarted if seq went back). */
export function applySnapshot(view: PoolView, snapshot: SequencedSnapshot): void {
  view.snapshot = snapshot;
  view.lastSeq = snapshot.seq;
  view.awaitingSnapshot = false;
}

/** A sample from a pool of any version: pools from before samples counted `queued` send none (read as 0). */
export type AnySample = Omit<TelemetrySample, "queued"> & { readonly queued?: number };

/** One chart point per series, from the server's sample. */
export function applySample(view: PoolView, sample: AnySample): void {
  const s = view.samples;
  s.t.push(sample.timeMs / 1_000);
  s.runners.push(sample.runners);
  s.booting.push(sample.booting);
  s.slotsUsed.push(sample.slotsUsed);
  s.queued.push(sample.queued ?? 0);
  s.waiting.push(sample.waiting);
  s.callsPerSecond.push((sample.calls * 1_000) / sample.periodMs);
  s.p50Ms.push(sample.p50Ms);
  s.p95Ms.push(sample.p95Ms);
  s.bootMs.push(sample.bootMs);
  if (s.t.length > MAX_SAMPLES) {
    for (const series of Object.values(s) as unknown[][])
      series.splice(0, series.length - MAX_SAMPLES);
  }
}

/**
 * Records one live event (timeline, figures); the pool's state changes only with the snapshot
 * that follows. Returns "gap" when events were missed: the caller asks for a snapshot. Events
 * already reflected by the snapshot (seq ≤ lastSeq) are ignored.
 */
export function applyEvent(view: PoolView, event: ViewEvent): "ok" | "stale" | "gap" {
  if (event.seq <= view.lastSeq) return "stale";
  const gap = event.seq !== view.lastSeq + 1;
  view.lastSeq = event.seq;
  if (gap) {
    view.gaps += 1;
    view.awaitingSnapshot = true;
  }
  record(view, event, true);
  return gap ? "gap" : "ok";
}

/** `live` events count calls; history events only fill the timeline and failures. */
function record(view: PoolView, event: ViewEvent, live: boolean): void {
  switch (event.type) {
    case "callFinished":
      if (live) {
        view.totalCalls += 1;
        if (!event.ok) view.failedCalls += 1;
        countCall(view.functions, event);
      }
      recordFailure(view.failures, event);
      return;
    case "runnerUp":
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
    case "runnerDown":
      recordExit(view, event);
      return;
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
    case "control": {
      const who = event.by ?? "an operator";
      const what = CONTROL_VERBS[event.action] ?? event.action;
      const text = event.ok
        ? `${who} ${what} ${event.target}: ${event.detail}`
        : `${who} could not ${CONTROL_INFINITIVES[event.action] ?? event.action} ${event.target}: ${event.detail}`;
      pushTimeline(view, event, event.ok ? "control" : "refused", text);
      return;
    }
    case "overloaded":
      view.overloaded += 1;
      pushTimeline(
        view,
        event,
        "overloaded",
        `a caller was refused OVERLOADED (${event.waiting} waiting, maxWaiting ${event.maxWaiting})`,
      );
      return;
    case "budgetBlocked":
      view.budgetBlocked += 1;
      pushTimeline(
        view,
        event,
        "budget",
        `a boot was refused: runner-time budget spent (${formatMs(event.spentMs)} of ${formatMs(event.budgetMs)})`,
      );
      return;
    case "stopped":
      pushTimeline(view, event, "stopped", "pool stopped");
      return;
    default:
      return;
  }
}

const CONTROL_VERBS: Record<string, string> = {
  drainRunner: "drained",
  killRunner: "killed",
  resize: "resized",
};
const CONTROL_INFINITIVES: Record<string, string> = {
  drainRunner: "drain",
  killRunner: "kill",
  resize: "resize",
};

/**
 * An exit as the pool reported it: an operator's kill, a crash, or (the pool asked it to leave)
 * nothing beyond the shrink or stop already shown. A pool that does not say (`expected` absent)
 * gets a plain "down" entry: the view does not guess a crash from an exit code.
 */
function recordExit(view: PoolView, event: Extract<ViewEvent, { type: "runnerDown" }>): void {
  const exit = `exit ${event.exitCode}`;
  if (event.cause === "operator") {
    pushTimeline(view, event, "killed", `runner ${event.runnerId} killed by an operator (${exit})`);
  } else if (event.expected === false) {
    pushTimeline(
      view,
      event,
      "crash",
      `runner ${event.runnerId} crashed (${exit}): ${event.reason}`,
    );
  } else if (event.expected === undefined) {
    pushTimeline(view, event, "down", `runner ${event.runnerId} down (${exit}): ${event.reason}`);
  }
}

function pushTimeline(view: PoolView, event: ViewEvent, kind: TimelineKind, text: string): void {
  view.timeline.unshift({ seq: event.seq, timeMs: event.timeMs, kind, text });
  if (view.timeline.length > MAX_TIMELINE) view.timeline.length = MAX_TIMELINE;
}

export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${Math.round((ms % 60_000) / 1_000)}s`;
}

/**
 * A runner's tracked resources as the runner table shows them: "2 held · 1 pinned" (calls
 * whose resources it keeps, each holding one slot, and calls pinned to them), "—" for none.
 * A pool older than tracked resources reports neither: shown as none.
 */
export function trackedText(r: { readonly tracked?: number; readonly pinned?: number }): string {
  const tracked = r.tracked ?? 0;
  const pinned = r.pinned ?? 0;
  if (tracked === 0 && pinned === 0) return "—";
  return pinned === 0 ? `${tracked} held` : `${tracked} held · ${pinned} pinned`;
}

/**
 * A runner's slots as the runner table shows them: calls running of `maxConcurrency` ("2/2"),
 * and the calls it holds queued to start as a slot frees (`prefetch`), when it holds any
 * ("2/2 · 2 queued"). Queued calls are not running: they never count toward the slots. A pool
 * older than prefetch reports no `queued`: shown as none.
 */
export function slotsText(
  r: { readonly inflight: number; readonly queued?: number },
  maxConcurrency: number,
): string {
  const running = `${r.inflight}/${maxConcurrency}`;
  const queued = r.queued ?? 0;
  return queued === 0 ? running : `${running} · ${queued} queued`;
}

export interface PoolLoad {
  /** Runners ready or draining (booting ones run nothing yet). */
  readonly ready: number;
  /** Calls running, summed over the runners: the slots in use. */
  readonly running: number;
  /** Slots of the ready and draining runners. */
  readonly capacity: number;
  /** Calls queued on runners (`prefetch`), summed: waiting, but on a runner, not in the pool. */
  readonly queued: number;
}

/** The pool summary's figures from its latest snapshot. */
export function poolLoad(s: {
  readonly maxConcurrency: number;
  readonly runners: ReadonlyArray<{
    readonly state: string;
    readonly inflight: number;
    readonly queued?: number;
  }>;
}): PoolLoad {
  let ready = 0;
  let running = 0;
  let queued = 0;
  for (const r of s.runners) {
    if (r.state !== "booting") ready += 1;
    running += r.inflight;
    queued += r.queued ?? 0;
  }
  return { ready, running, capacity: ready * s.maxConcurrency, queued };
}

/** The "Slots in use" note: the capacity, and the calls queued on runners when there are any. */
export function slotsNote(load: PoolLoad): string {
  const of = `of ${load.capacity}`;
  return load.queued === 0 ? of : `${of} · ${load.queued} queued on runners`;
}
