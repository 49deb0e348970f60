/**
 * Every pool deadline, as data: callers' queue bounds, call retry backoffs, call backstops,
 * pinned calls' queue bounds and backstops, boot deadlines, shutdown kill and abandon deadlines
 * (heaps with lazy deletion), idle timers (idle-queue.ts), the boot retry and the drain bound
 * (single fields). This file arms them, says which one is due, reports the
 * earliest (`nextDeadline`) and drops stale entries; it decides nothing: what a deadline does
 * when it passes is policy.ts's and runners.ts's.
 */
import type { MinHeap } from "./heap.js";
import type { CheckoutState, PinnedState, PoolState, RunnerState, WaiterState } from "./state.js";
import type { BootId, CheckoutId, RunnerId } from "./types.js";

/** When the host must send the next `tick`, or null when nothing is scheduled. */
export function nextDeadline(s: PoolState): number | null {
  let next: number | null = s.retryAtMs;
  const consider = (at: number | null | undefined): void => {
    if (at !== undefined && at !== null && (next === null || at < next)) next = at;
  };
  consider(s.waiterDeadlines.peekKey());
  consider(s.callRetryDeadlines.peekKey());
  consider(s.backstopDeadlines.peekKey());
  consider(s.pinnedDeadlines.peekKey());
  consider(s.idleDeadlines.first()?.idleDeadlineMs);
  consider(s.minIdleDeadlines.first()?.idleDeadlineMs);
  consider(s.bootDeadlines.peekKey());
  consider(s.exitDeadlines.peekKey());
  consider(s.draining?.untilMs);
  return next;
}

/** Whether a heap entry (value, at) is still the deadline it was armed as. */
type Live<T> = (s: PoolState, value: T, atMs: number) => boolean;

const liveWaiter: Live<CheckoutId> = (s, id, at) => s.waiters.get(id)?.deadlineMs === at;
const liveCallRetry: Live<CheckoutId> = (s, id, at) => s.callRetries.get(id)?.atMs === at;
const liveBackstop: Live<CheckoutId> = (s, id, at) => s.checkouts.get(id)?.backstopAtMs === at;
const livePinned: Live<CheckoutId> = (s, id, at) => s.pinned.get(id)?.deadlineAtMs === at;
const liveBoot: Live<BootId> = (s, id, at) => s.pendingBoots.get(id)?.deadlineMs === at;
const liveExit: Live<RunnerId> = (s, id, at) => {
  const life = s.runners.get(id)?.life;
  return (
    (life?.phase === "draining" && life.shutdownAtMs === at) ||
    (life?.phase === "stopping" && life.killAtMs === at) ||
    (life?.phase === "killed" && life.abandonAtMs === at)
  );
};

/** Pops the next live entry due at `nowMs` (skipping stale ones), or undefined. */
function popDue<T>(s: PoolState, heap: MinHeap<T>, nowMs: number, live: Live<T>): T | undefined {
  for (;;) {
    const at = heap.peekKey();
    if (at === undefined || at > nowMs) return undefined;
    const value = heap.pop() as T;
    if (live(s, value, at)) return value;
  }
}

/** The next due deadline of each kind; the caller acts on it (policy), then asks again. */
export const due = {
  waiter: (s: PoolState, nowMs: number) => popDue(s, s.waiterDeadlines, nowMs, liveWaiter),
  callRetry: (s: PoolState, nowMs: number) => popDue(s, s.callRetryDeadlines, nowMs, liveCallRetry),
  backstop: (s: PoolState, nowMs: number) => popDue(s, s.backstopDeadlines, nowMs, liveBackstop),
  pinned: (s: PoolState, nowMs: number) => popDue(s, s.pinnedDeadlines, nowMs, livePinned),
  boot: (s: PoolState, nowMs: number) => popDue(s, s.bootDeadlines, nowMs, liveBoot),
  exit: (s: PoolState, nowMs: number) => popDue(s, s.exitDeadlines, nowMs, liveExit),
  /** The runner whose idle deadline passed first (its deadline is disarmed), or undefined. */
  idle(s: PoolState, nowMs: number): RunnerState | undefined {
    for (;;) {
      const plain = s.idleDeadlines.first();
      const min = s.minIdleDeadlines.first();
      const next =
        min === undefined ||
        (plain !== undefined && (plain.idleDeadlineMs as number) <= (min.idleDeadlineMs as number))
          ? plain
          : min;
      if (next === undefined || (next.idleDeadlineMs as number) > nowMs) return undefined;
      next.idleQueue?.disarm(next);
      // Every move out of `ready` disarms it; kept as the heap's liveness check was, to be sure.
      if (next.life.phase === "ready") return next;
    }
  },
  /** The boot retry, once: its field is cleared. */
  retry(s: PoolState, nowMs: number): boolean {
    if (s.retryAtMs === null || s.retryAtMs > nowMs) return false;
    s.retryAtMs = null;
    return true;
  },
  drain: (s: PoolState, nowMs: number): boolean =>
    s.draining?.untilMs != null && s.draining.untilMs <= nowMs,
};

/**
 * Lazy deletion leaves stale entries behind (a runner re-armed, a waiter granted, a call
 * checked in); they only leave when they reach the top. Under steady load that is one entry
 * per checkin per window, so once stale entries outnumber live ones the heap is rebuilt from
 * the live deadlines: O(n) every n pushes, O(1) amortized, memory bounded by 2× the live count.
 */
function compactionThreshold(live: number): number {
  return 2 * live + 64;
}

export function armWaiterDeadline(s: PoolState, waiter: WaiterState): void {
  if (waiter.deadlineMs === null) return;
  s.waiterDeadlines.push(waiter.deadlineMs, waiter.id);
  if (s.waiterDeadlines.size > compactionThreshold(s.waiters.size)) {
    s.waiterDeadlines.clear();
    for (const w of s.waiters.values()) {
      if (w.deadlineMs !== null) s.waiterDeadlines.push(w.deadlineMs, w.id);
    }
  }
}

/** A call's retry backoff; entries go stale when it is withdrawn (callerGone, stop). */
export function armCallRetry(s: PoolState, id: CheckoutId, atMs: number): void {
  s.callRetryDeadlines.push(atMs, id);
  if (s.callRetryDeadlines.size > compactionThreshold(s.callRetries.size)) {
    s.callRetryDeadlines.clear();
    for (const r of s.callRetries.values()) s.callRetryDeadlines.push(r.atMs, r.id);
  }
}

export function armBackstop(s: PoolState, checkout: CheckoutState, atMs: number | null): void {
  checkout.backstopAtMs = atMs;
  if (atMs === null) return;
  s.backstopDeadlines.push(atMs, checkout.id);
  if (s.backstopDeadlines.size > compactionThreshold(s.checkouts.size)) {
    s.backstopDeadlines.clear();
    for (const c of s.checkouts.values()) {
      if (c.backstopAtMs !== null) s.backstopDeadlines.push(c.backstopAtMs, c.id);
    }
  }
}

/** A pinned call's queue bound or backstop; `atMs` null disarms (the entry goes stale). */
export function armPinnedDeadline(s: PoolState, pinned: PinnedState, atMs: number | null): void {
  pinned.deadlineAtMs = atMs;
  if (atMs === null) return;
  s.pinnedDeadlines.push(atMs, pinned.id);
  if (s.pinnedDeadlines.size > compactionThreshold(s.pinned.size)) {
    s.pinnedDeadlines.clear();
    for (const p of s.pinned.values()) {
      if (p.deadlineAtMs !== null) s.pinnedDeadlines.push(p.deadlineAtMs, p.id);
    }
  }
}

/**
 * Arms (or, with `atMs` null, disarms) a runner's idle deadline, in the queue of the delay it
 * was armed with: min runners' (`minIdleShutdownAfterMs`) or the others' (idle-queue.ts).
 */
export function armIdleDeadline(s: PoolState, runner: RunnerState, atMs: number | null): void {
  if (atMs === null) runner.idleQueue?.disarm(runner);
  else (runner.isMin ? s.minIdleDeadlines : s.idleDeadlines).arm(runner, atMs);
}

export function armBootDeadline(s: PoolState, bootId: BootId, atMs: number): void {
  s.bootDeadlines.push(atMs, bootId);
}

/** The shutdown (draining at stop), kill (stopping) or abandon (killed) deadline of a runner. */
export function armExitDeadline(s: PoolState, runnerId: RunnerId, atMs: number): void {
  s.exitDeadlines.push(atMs, runnerId);
}

/** Pops stale heap tops so `nextDeadline` never reports a deadline that will do nothing. */
export function dropStaleDeadlines(s: PoolState): void {
  dropStale(s, s.waiterDeadlines, liveWaiter);
  dropStale(s, s.callRetryDeadlines, liveCallRetry);
  dropStale(s, s.backstopDeadlines, liveBackstop);
  dropStale(s, s.pinnedDeadlines, livePinned);
  dropStale(s, s.bootDeadlines, liveBoot);
  dropStale(s, s.exitDeadlines, liveExit);
}

function dropStale<T>(s: PoolState, heap: MinHeap<T>, live: Live<T>): void {
  for (;;) {
    const at = heap.peekKey();
    if (at === undefined || live(s, heap.peekValue() as T, at)) return;
    heap.pop();
  }
}
