import { RunnerTimeLedger } from "./budget.js";
import type { CheckoutList } from "./checkout-list.js";
import { MinHeap } from "./heap.js";
import { IdleQueue } from "./idle-queue.js";
import { LoadIndex } from "./load-index.js";
import type {
  BootId,
  CheckoutId,
  CoreConfig,
  RetryPolicy,
  RunnerId,
  RunnerPhase,
  ShutdownReason,
} from "./types.js";

/**
 * The runner lifecycle, in one table (h11-style), enforced by `moveRunner`: a transition not
 * listed here throws `CoreTransitionError` (a bug in the reducer, never a user error).
 *
 * - `ready`: takes checkouts; its idle deadline may be armed.
 * - `idleCheck`: idle deadline passed, the user's idle check is running; still takes checkouts
 *   (a grant sends it back to `ready` and the late answer is ignored).
 * - `draining`: takes no new work; its shutdown is sent once its last checkout ends.
 * - `stopping`: shutdown sent; killed at `killAtMs` if it has not exited.
 * - `killed`: kill sent; forgotten at `abandonAtMs` if the backend never reports its exit.
 * - `gone` (not a state kept): removed after `runnerDown` or when abandoned.
 *
 * A runner is `booting` before all this, as a `PendingBoot`.
 */
export const RUNNER_TRANSITIONS = {
  ready: ["idleCheck", "draining", "stopping", "gone"],
  idleCheck: ["ready", "draining", "stopping", "gone"],
  draining: ["stopping", "gone"],
  stopping: ["killed", "gone"],
  killed: ["gone"],
} as const satisfies Record<RunnerPhase, readonly (RunnerPhase | "gone")[]>;

/** The phase with the data that only exists in it (no flags beside it). */
export type RunnerLife =
  | { readonly phase: "ready" }
  | { readonly phase: "idleCheck" }
  /** `shutdownAtMs`: sent its shutdown then even if work remains (unlinked work at stop). */
  | {
      readonly phase: "draining";
      readonly reason: ShutdownReason;
      readonly shutdownAtMs: number | null;
    }
  | { readonly phase: "stopping"; readonly reason: ShutdownReason; readonly killAtMs: number }
  | { readonly phase: "killed"; readonly reason: ShutdownReason; readonly abandonAtMs: number };

export class CoreTransitionError extends Error {
  override readonly name = "CoreTransitionError";
}

export interface RunnerState {
  readonly id: RunnerId;
  isMin: boolean;
  life: RunnerLife;
  load: number;
  readonly bootStartedAtMs: number;
  readonly bootedAtMs: number;
  callsServed: number;
  /** Checkouts granted on this runner, in grant order: the ones to fail if it dies. */
  readonly checkouts: CheckoutList<CheckoutState>;
  /** Single use: set once its one checkout was granted. */
  used: boolean;
  /** Armed only while `ready`; `IdleQueue` owns it and the three links below. */
  idleDeadlineMs: number | null;
  idlePrev: RunnerState | null;
  idleNext: RunnerState | null;
  idleQueue: IdleQueue<RunnerState> | null;
  /** Its place in the free-slot index (`LoadIndex` owns it; NOT_INDEXED when not there). */
  freeSlot: number;
  /**
   * Calls it holds queued beyond its slots (prefetch.ts), oldest first: always its newest
   * `load - slots` checkouts (none while its load is within its slots).
   */
  readonly queued: QueuedCall[];
  /** Calls it may hold queued: one per thread running its functions (its hello says). */
  readonly prefetchDepth: number;
}

/** A call granted to a full runner, which holds it queued and starts it when a slot frees. */
export interface QueuedCall {
  readonly checkout: CheckoutState;
  /** The caller as it waited: placed again from this if the runner gives the call back. */
  readonly waiter: WaiterState;
  /** The run deadline it was granted with, kept if it is granted again. */
  readonly runDeadlineMs: number | null;
  /** `unqueue` was sent: the runner gives it back (`unqueued`) unless it already started it. */
  unqueueSent: boolean;
  /** Its caller was answered (aborted, backstop): if given back, it is not placed again. */
  answered: boolean;
}

export interface CheckoutState {
  readonly id: CheckoutId;
  readonly runnerId: RunnerId;
  childId: string | null;
  /**
   * Run deadline plus `deadlineGraceMs`: the core fails the caller TIMEOUT then if the runner
   * has not answered. Null: no run deadline, or already answered early (the slot stays held).
   */
  backstopAtMs: number | null;
  /** A call that may be retried if its runner dies; null once its caller was answered. */
  retry: CallRetry | null;
  /**
   * `link: false`: its runner waits for it at stop (up to shutdownTimeoutMs). Cleared when it
   * becomes a holder of tracked resources (a handle may live forever: stop does not wait).
   */
  unlinked: boolean;
  /** Its place in its runner's `checkouts` (`CheckoutList` owns these three). */
  prevOnRunner: CheckoutState | null;
  nextOnRunner: CheckoutState | null;
  onRunner: CheckoutList<CheckoutState> | null;
}

/**
 * A checkout that holds tracked resources (`convertToTracked`): its slot stays held until its
 * checkin, and the calls pinned to it run one at a time, FIFO, in that slot (tracked.ts).
 */
export interface HolderState {
  readonly id: CheckoutId;
  readonly runnerId: RunnerId;
  /** The pinned call running now (at most one), or null. */
  running: CheckoutId | null;
  /** Pinned calls waiting for `running` to end, oldest first (a Set keeps insertion order). */
  readonly queue: Set<CheckoutId>;
  /** Checked in while a pinned call ran: its slot is freed when that call ends. */
  releasing: boolean;
}

/** A call pinned to a holder (`checkout` with `on`): it takes no slot of its own. */
export interface PinnedState {
  readonly id: CheckoutId;
  readonly holderId: CheckoutId;
  readonly runnerId: RunnerId;
  running: boolean;
  /** The caller's own timeout (relative), for messages. */
  readonly timeoutMs: number | null;
  /** Arrival + timeout: the queue bound, and the run deadline of a call granted from the queue. */
  readonly callDeadlineMs: number | null;
  /** No run deadline in its grant (`unboundedRun`). */
  readonly unboundedRun: boolean;
  /**
   * Its one live deadline: the queue bound while queued, the backstop (run deadline plus
   * `deadlineGraceMs`) while running; null when none is left (or the backstop already fired).
   */
  deadlineAtMs: number | null;
  readonly enqueuedAtMs: number;
  /** Arrival order, for the per-holder FIFO invariant. */
  readonly seq: number;
}

/** A retryable call's policy and progress, carried from waiter to checkout and back. */
export interface CallRetry {
  readonly policy: RetryPolicy;
  /** Retries so far (0 on the first attempt). */
  readonly attempt: number;
  /** The caller's own timeout, relative (for messages and a cold first attempt). */
  readonly timeoutMs: number | null;
  /** The original call deadline every attempt stays within (null: no bound). */
  readonly callDeadlineMs: number | null;
}

/** A call between its runner's death and its re-queueing (`retryCheckout`'s backoff). */
export interface PendingRetry {
  readonly id: CheckoutId;
  readonly atMs: number;
  readonly retry: CallRetry;
  readonly unlinked: boolean;
}

export interface WaiterState {
  readonly id: CheckoutId;
  /** The caller's own timeout (relative), to compute the run deadline at grant. */
  readonly timeoutMs: number | null;
  /** enqueued + timeout: the plain (warm) bound, also the run deadline of a warm caller. */
  readonly callDeadlineMs: number | null;
  /** When the core rejects it with TIMEOUT; later than callDeadlineMs for a cold caller. */
  readonly deadlineMs: number | null;
  /** Queued while a runner was booting for it: gets a full timeout to run once granted. */
  readonly cold: boolean;
  /** A cast or a placed child: the timeout bounds only the wait (no run deadline). */
  readonly unboundedRun: boolean;
  readonly enqueuedAtMs: number;
  /** A call that may be retried if its runner dies (null: not retried). */
  readonly retry: CallRetry | null;
  /** `link: false` (see CheckoutState). */
  readonly unlinked: boolean;
  /** Enqueue order, for the FIFO invariant. */
  readonly seq: number;
  /**
   * Given back by the runner that held it queued (prefetch.ts) with no room left for it: it
   * was admitted already, so it waits even beyond `maxWaiting`.
   */
  readonly givenBack?: true;
}

export interface PendingBoot {
  readonly id: BootId;
  readonly runnerId: RunnerId;
  isMin: boolean;
  readonly startedAtMs: number;
  readonly deadlineMs: number;
}

/** Mutable, owned by whoever calls `step`. Opaque outside core/. */
export interface PoolState {
  /** As the pool was created; `limits` holds what `resize` can change. */
  readonly config: CoreConfig;
  readonly limits: { min: number; max: number; buffer: number };

  started: boolean;
  /** `drain` received: new callers are refused; stop follows when the work is done. */
  draining: { readonly untilMs: number | null } | null;
  stopped: boolean;
  /** The `stopped` effect was emitted. */
  stoppedReported: boolean;
  nextBootNumber: number;
  nextWaiterSeq: number;
  nextPinnedSeq: number;
  readonly runners: Map<RunnerId, RunnerState>;
  readonly free: LoadIndex<RunnerState>;
  readonly pendingBoots: Map<BootId, PendingBoot>;
  /** Boots that were pending when a resize lowered `max`: allowed over `max` until they end. */
  readonly surplusBoots: Set<BootId>;
  readonly checkouts: Map<CheckoutId, CheckoutState>;
  /** FIFO: a Map iterates in insertion order. */
  readonly waiters: Map<CheckoutId, WaiterState>;
  readonly waiterDeadlines: MinHeap<CheckoutId>;
  /** Calls whose runner died, waiting out their retry backoff before queueing again. */
  readonly callRetries: Map<CheckoutId, PendingRetry>;
  readonly callRetryDeadlines: MinHeap<CheckoutId>;
  /** Idle deadlines armed with `idleShutdownAfterMs` and with `minIdleShutdownAfterMs`. */
  readonly idleDeadlines: IdleQueue<RunnerState>;
  readonly minIdleDeadlines: IdleQueue<RunnerState>;
  readonly bootDeadlines: MinHeap<BootId>;
  /** Kill and abandon deadlines of runners that were asked to leave. */
  readonly exitDeadlines: MinHeap<RunnerId>;
  /** Backstops of granted checkouts (`CheckoutState.backstopAtMs`). */
  readonly backstopDeadlines: MinHeap<CheckoutId>;
  /** Holders of tracked resources, by checkout id (each is also in `checkouts`, with its slot). */
  readonly holders: Map<CheckoutId, HolderState>;
  /** Pinned calls, running and queued; never in `checkouts` (they hold no slot). */
  readonly pinned: Map<CheckoutId, PinnedState>;
  /** Queue bounds and backstops of pinned calls (`PinnedState.deadlineAtMs`). */
  readonly pinnedDeadlines: MinHeap<CheckoutId>;
  retryAtMs: number | null;
  /** Message of the last failed boot since the last successful one (named in TIMEOUTs). */
  lastBootError: string | null;
  /** A permanent boot failure stops boots for demand until demand changes (a new caller, resize). */
  bootsBlockedBy: string | null;
  /** The last boot attempt was refused by the budget (telemetry reports the first refusal). */
  budgetBlocked: boolean;
  /**
   * Runner time per budget window; null without a `budget` (nothing would read it, and keeping
   * it cost two Map writes per boot and exit, on a table as large as the pool).
   */
  readonly ledger: RunnerTimeLedger | null;
  /** Idle runners kept for `buffer` with no idle timer (re-armed once idle ones exceed it). */
  readonly bufferKept: Set<RunnerId>;
  /** Runners holding a call queued beyond their slots (`RunnerState.queued`). */
  readonly queuedOn: Set<RunnerState>;
  /** Counters kept in step with `runners`/`pendingBoots` so no policy check scans them. */
  readonly counts: {
    /** Runners in `ready` or `idleCheck` (taking work). */
    active: number;
    /** Active runners marked min, plus pending min boots. */
    min: number;
    /** Active runners marked min (so `active - minActive` can be promoted without a scan). */
    minActive: number;
    /** Calls held queued on runners, all runners together. */
    queued: number;
    /** Queued calls whose runner was asked to give them back (`unqueueSent`). */
    unqueuing: number;
  };
}

export function initialState(config: CoreConfig): PoolState {
  return {
    config,
    limits: { min: config.min, max: config.max, buffer: config.buffer },
    started: false,
    draining: null,
    stopped: false,
    stoppedReported: false,
    nextBootNumber: 1,
    nextWaiterSeq: 1,
    nextPinnedSeq: 1,
    runners: new Map(),
    free: new LoadIndex(),
    pendingBoots: new Map(),
    surplusBoots: new Set(),
    checkouts: new Map(),
    waiters: new Map(),
    waiterDeadlines: new MinHeap(),
    callRetries: new Map(),
    callRetryDeadlines: new MinHeap(),
    idleDeadlines: new IdleQueue(),
    minIdleDeadlines: new IdleQueue(),
    bootDeadlines: new MinHeap(),
    exitDeadlines: new MinHeap(),
    backstopDeadlines: new MinHeap(),
    holders: new Map(),
    pinned: new Map(),
    pinnedDeadlines: new MinHeap(),
    retryAtMs: null,
    lastBootError: null,
    bootsBlockedBy: null,
    budgetBlocked: false,
    ledger: config.budget === null ? null : new RunnerTimeLedger(config.budget.windowMs),
    bufferKept: new Set(),
    queuedOn: new Set(),
    counts: { active: 0, min: 0, minActive: 0, queued: 0, unqueuing: 0 },
  };
}

/** Taking new work: `ready`, or `idleCheck` (an idle check does not stop grants). */
export function isActive(runner: RunnerState): boolean {
  return runner.life.phase === "ready" || runner.life.phase === "idleCheck";
}

/** The only way a runner's phase changes: checks the table and keeps the counters right. */
export function moveRunner(s: PoolState, runner: RunnerState, next: RunnerLife): void {
  const allowed: readonly string[] = RUNNER_TRANSITIONS[runner.life.phase];
  if (!allowed.includes(next.phase)) {
    throw new CoreTransitionError(
      `runner ${runner.id}: illegal transition ${runner.life.phase} -> ${next.phase}`,
    );
  }
  const wasActive = isActive(runner);
  if (next.phase !== "ready") s.bufferKept.delete(runner.id);
  runner.life = next;
  const nowActive = isActive(runner);
  if (wasActive !== nowActive) {
    const delta = nowActive ? 1 : -1;
    s.counts.active += delta;
    if (runner.isMin) {
      s.counts.min += delta;
      s.counts.minActive += delta;
    }
  }
}

/** Marks a runner gone (checked against the table) before it is removed from `runners`. */
export function removeRunner(s: PoolState, runner: RunnerState): void {
  const allowed: readonly string[] = RUNNER_TRANSITIONS[runner.life.phase];
  if (!allowed.includes("gone")) {
    throw new CoreTransitionError(
      `runner ${runner.id}: illegal transition ${runner.life.phase} -> gone`,
    );
  }
  if (isActive(runner)) {
    s.counts.active -= 1;
    if (runner.isMin) {
      s.counts.min -= 1;
      s.counts.minActive -= 1;
    }
  }
  s.bufferKept.delete(runner.id);
  s.runners.delete(runner.id);
}

export function setRunnerMin(s: PoolState, runner: RunnerState, isMin: boolean): void {
  if (runner.isMin === isMin) return;
  runner.isMin = isMin;
  if (isActive(runner)) {
    s.counts.min += isMin ? 1 : -1;
    s.counts.minActive += isMin ? 1 : -1;
  }
}

export function setBootMin(s: PoolState, boot: PendingBoot, isMin: boolean): void {
  if (boot.isMin === isMin) return;
  boot.isMin = isMin;
  s.counts.min += isMin ? 1 : -1;
}

/** Slots of every runner: `maxConcurrency`, or one when single use. */
export function slotsPerRunner(state: PoolState): number {
  return state.config.singleUse ? 1 : state.config.maxConcurrency;
}

/** Slots a runner can hold: one in its whole life when single use. */
export function capacityOf(state: PoolState, runner: RunnerState): number {
  if (state.config.singleUse) return runner.used ? 0 : 1;
  return state.config.maxConcurrency;
}

/**
 * Loads at which an active runner is in the free-slot index: below its slots, plus room for
 * its queued calls when prefetch is on (prefetch.ts decides when that room may be used).
 */
export function indexedBelow(state: PoolState, runner: RunnerState): number {
  return capacityOf(state, runner) + (prefetchOn(state) ? runner.prefetchDepth : 0);
}

/** Prefetch is configured (never for single-use runners, whose one call is their life). */
export function prefetchOn(state: PoolState): boolean {
  return state.config.prefetch && !state.config.singleUse;
}

/**
 * A call may be granted to a full runner, to wait there queued: only when no runner can be
 * added for it (the pool is at `max` with no boot in flight), so prefetch never stands in
 * for scaling out; a runner that does come up later takes the queued calls back (prefetch.ts).
 */
export function prefetchAllowed(state: PoolState): boolean {
  return (
    prefetchOn(state) && state.pendingBoots.size === 0 && runnerCount(state) >= state.limits.max
  );
}

/** Calls queued on runners that are not being given back: demand a new runner would serve. */
export function queuedDemand(state: PoolState): number {
  return state.counts.queued - state.counts.unqueuing;
}

/** Runners and boots that count toward `max` (leaving runners still hold resources). */
export function runnerCount(state: PoolState): number {
  return state.runners.size + state.pendingBoots.size;
}

/** Runners taking work plus boots in flight: what `max` bounds once leavers are gone. */
export function activeOrPendingCount(state: PoolState): number {
  return state.counts.active + state.pendingBoots.size;
}
