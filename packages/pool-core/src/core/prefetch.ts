/**
 * Prefetch (issue 23): a call may wait queued on a busy runner instead of in the pool's queue,
 * so the runner starts it the moment a slot frees, with no round trip to the parent. On worker
 * threads that round trip left a thread idle 0.5–1.6 ms between CPU-bound tasks.
 *
 * The rules, which keep FLAME's least-loaded rule true:
 * - Only when no runner has a free slot and none can be added (`prefetchAllowed`: at `max`,
 *   no boot in flight): a queued call never stands in for scaling out, and one that could run
 *   now never waits behind another.
 * - Up to one call per thread of a runner (`RunnerState.prefetchDepth`, from its hello), so
 *   every thread has its next call at hand; on the least-loaded runner, in FIFO order: a call
 *   only queues when no caller waits ahead of it, and waiters are queued oldest first; a cast
 *   or a placed child at the head stops it (they wait for a free slot, so nothing behind them
 *   overtakes them twice).
 * - The runner starts its oldest queued call when a slot frees (the core mirrors it: a
 *   runner's queued calls are always its newest `load - slots` checkouts).
 * - When a slot frees on another runner and no caller waits, the core asks a runner to give
 *   back its newest queued call (`unqueue`); given back (`unqueued`), it is placed again ahead
 *   of callers that came after it. A runner that already started it answers it as usual.
 * - Queued calls count as demand, so a pool below `max` (a runner crashed) boots for them.
 *
 * `maxConcurrency` still bounds the calls a runner runs at once; with prefetch a runner holds
 * at most one more per thread, waiting (README, "maxConcurrency").
 */
import { stoppedError } from "./limits.js";
import { grant, grantWaiter, rejectTimedOut } from "./policy.js";
import { queuedEntry, releaseSlot } from "./runners.js";
import {
  type CheckoutState,
  capacityOf,
  isActive,
  type PoolState,
  prefetchAllowed,
  type QueuedCall,
  type RunnerState,
  type WaiterState,
} from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { armWaiterDeadline } from "./timers.js";
import type { CheckoutId } from "./types.js";

/** A new caller (or one given back) may queue on a full runner: see the module doc. */
export function mayQueue(s: PoolState, waiter: WaiterState): boolean {
  return prefetchAllowed(s) && !waiter.unboundedRun;
}

/**
 * Waiters left after a step go queued to runners with room for one, oldest first, while
 * prefetch is allowed (it may have become so this step: the last boot in flight failed).
 */
export function queueWaiters(st: Step): void {
  const s = st.s;
  if (s.waiters.size === 0 || !prefetchAllowed(s)) return;
  for (const waiter of s.waiters.values()) {
    const runner = s.free.leastLoaded();
    if (runner === undefined || waiter.unboundedRun) return;
    grantWaiter(st, waiter, runner);
  }
}

/** Free slots of active runners (O(maxConcurrency): only asked while calls are queued). */
function freeSlots(s: PoolState): number {
  const slots = s.config.maxConcurrency;
  let free = 0;
  for (let load = 0; load < slots; load += 1) free += s.free.countAt(load) * (slots - load);
  return free;
}

/** A runner that still reads its link: it can give a queued call back. */
function takesUnqueue(runner: RunnerState): boolean {
  return isActive(runner) || runner.life.phase === "draining";
}

/**
 * No caller waits and some runner has a free slot nobody is being given back for: ask runners
 * holding a queued call to give it back, one per such slot.
 */
export function unqueueForFreeSlots(st: Step): void {
  const s = st.s;
  if (s.counts.queued === s.counts.unqueuing || s.waiters.size > 0) return;
  let unclaimed = freeSlots(s) - s.counts.unqueuing;
  if (unclaimed <= 0) return;
  for (const runner of s.queuedOn) {
    if (!takesUnqueue(runner)) continue;
    // Newest first: the call that would wait longest on this runner.
    for (let i = runner.queued.length - 1; i >= 0; i -= 1) {
      const queued = runner.queued[i] as QueuedCall;
      if (queued.unqueueSent) continue;
      queued.unqueueSent = true;
      s.counts.unqueuing += 1;
      emit(st, { type: "unqueue", checkoutId: queued.checkout.id, runnerId: runner.id });
      unclaimed -= 1;
      if (unclaimed === 0) return;
    }
  }
}

/**
 * The caller of a queued call was answered (aborted, or failed by the backstop): the host
 * cancels it on its runner, which drops it and answers at once. It is leaving that runner,
 * so it is counted as being given back and never asked for.
 */
export function queuedCallAnswered(s: PoolState, checkout: CheckoutState): void {
  const runner = s.runners.get(checkout.runnerId);
  const queued = runner === undefined ? undefined : queuedEntry(runner, checkout);
  if (queued === undefined) return;
  queued.answered = true;
  if (queued.unqueueSent) return;
  queued.unqueueSent = true;
  s.counts.unqueuing += 1;
}

/**
 * The runner gave call `checkoutId` back before starting it: it leaves that runner and is
 * placed again as the caller it was (its original deadlines), ahead of later callers.
 */
export function onUnqueued(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const checkout = s.checkouts.get(checkoutId);
  if (checkout === undefined) return; // failed with its runner meanwhile: a known race
  // A holder of tracked resources or a placed child ran: a runner has nothing to give back.
  if (s.holders.has(checkoutId) || checkout.childId !== null) return;
  const runner = s.runners.get(checkout.runnerId) as RunnerState;
  const queued = queuedEntry(runner, checkout);
  if (queued === undefined) {
    // A correct runner only gives back a call it holds queued: anything else is a runner
    // bug, and its caller must not hang on a slot the core thinks is still held.
    releaseSlot(st, checkoutId, false);
    emit(st, {
      type: "reject",
      checkoutId,
      error: {
        code: "RUNNER_DOWN",
        message: `Runner ${runner.id} gave back call ${checkoutId}, which it was not holding queued (a runner protocol error); the call did not run.`,
      },
    });
    return;
  }
  // Given back, it frees its slot as any call that ends; it never ran. Its caller already
  // answered (aborted, or failed by the backstop) is done; otherwise it is placed again.
  releaseSlot(st, checkoutId, false);
  if (!queued.answered) placeAgain(st, queued.waiter, queued.runDeadlineMs);
}

/**
 * A call given back: granted if there is room for it, else first in the queue; either way
 * within the run deadline it was first granted with.
 */
function placeAgain(st: Step, given: WaiterState, runDeadlineMs: number | null): void {
  const s = st.s;
  const waiter: WaiterState =
    runDeadlineMs === null
      ? given
      : { ...given, cold: false, callDeadlineMs: runDeadlineMs, deadlineMs: runDeadlineMs };
  // Given back after the pool stopped: its caller fails like those that waited in the pool.
  if (s.stopped) {
    emit(st, { type: "reject", checkoutId: waiter.id, error: stoppedError(s) });
    return;
  }
  if (waiter.deadlineMs !== null && waiter.deadlineMs <= st.nowMs) {
    rejectTimedOut(st, waiter);
    return;
  }
  const runner = s.free.leastLoaded();
  const waitedMs = st.nowMs - waiter.enqueuedAtMs;
  // It is older than every caller waiting now: it takes room before them.
  if (runner !== undefined && (runner.load < capacityOf(s, runner) || mayQueue(s, waiter))) {
    const { id, retry, unlinked } = waiter;
    grant(st, id, runner, waitedMs, runDeadlineMs, retry, unlinked, waiter, false);
    return;
  }
  // Everyone waiting now came after it: it goes first (a Map keeps insertion order).
  const later = [...s.waiters.values()];
  s.waiters.clear();
  const first: WaiterState = { ...waiter, givenBack: true };
  s.waiters.set(first.id, first);
  for (const w of later) s.waiters.set(w.id, w);
  armWaiterDeadline(s, first);
  telemetry(st, { type: "waiting", checkoutId: waiter.id, waiting: s.waiters.size });
}
