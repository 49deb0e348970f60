/**
 * `step(state, event, nowMs)`: the event handlers. Due deadlines fire first (so a late tick
 * only delays them), then the event, then what the whole step may have changed: the boot
 * retry, idle timers, the end of a drain, the buffer, callers the budget leaves unservable,
 * and the one `stopped` report.
 */

import { callRetryDue, onCheckout } from "./admission.js";
import { CheckoutList } from "./checkout-list.js";
import { onResize, onStop } from "./limits.js";
import { NOT_INDEXED } from "./load-index.js";
import {
  armIdle,
  backstopPassed,
  bootForBuffer,
  bootForDemand,
  ensureMin,
  failUnservableByBudget,
  handWaitersTo,
  idleChecked,
  idleDeadlinePassed,
  rearmBufferKept,
  rejectWaiters,
  retryBoots,
  scheduleRetry,
  waiterTimedOut,
} from "./policy.js";
import { onUnqueued, queuedCallAnswered, queueWaiters, unqueueForFreeSlots } from "./prefetch.js";
import {
  announcedLeaving,
  bootDeadlinePassed,
  bootEndedInFailure,
  drain,
  endBoot,
  exitDeadlinePassed,
  leavesAtStop,
  releaseSlot,
  runnerGone,
  sendShutdown,
  setLoad,
} from "./runners.js";
import {
  activeOrPendingCount,
  isActive,
  type PoolState,
  type RunnerState,
  runnerCount,
  setRunnerMin,
} from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { dropStaleDeadlines, due } from "./timers.js";
import { convertToTracked, pinnedDeadlinePassed, trackedRelease } from "./tracked.js";
import type { CheckoutId, CoreError, CoreEvent, Effect } from "./types.js";

export { nextDeadline } from "./timers.js";

/**
 * Applies one event. Updates `state` in place and returns it with the effects the host must
 * carry out, in order.
 */
export function step(
  state: PoolState,
  event: CoreEvent,
  nowMs: number,
): { state: PoolState; effects: readonly Effect[] } {
  const st: Step = { s: state, nowMs, fx: [], spentMs: null, budgetRefused: false };
  fireDue(st);
  switch (event.type) {
    case "start":
      start(st);
      break;
    case "checkout":
      start(st);
      onCheckout(
        st,
        event.checkoutId,
        event.timeoutMs,
        event.unboundedRun === true,
        event.retry,
        event.unlinked === true,
        event.on,
      );
      break;
    case "checkin":
      checkin(st, event.checkoutId);
      break;
    case "unqueued":
      onUnqueued(st, event.checkoutId);
      break;
    case "callerGone":
      // Known race: a cancel after the grant is a checkin; after a timeout, a no-op.
      if (state.waiters.delete(event.checkoutId)) break;
      if (state.callRetries.delete(event.checkoutId)) break;
      checkin(st, event.checkoutId);
      break;
    case "answered": {
      // A pinned call is never retried, so nothing to clear (it is not in `checkouts`).
      const checkout = state.checkouts.get(event.checkoutId);
      if (checkout === undefined) break;
      checkout.retry = null;
      queuedCallAnswered(state, checkout);
      break;
    }
    case "convertToChild": {
      const checkout = state.checkouts.get(event.checkoutId);
      if (checkout === undefined || state.holders.has(event.checkoutId)) break;
      checkout.childId = event.childId;
      // A child has no caller waiting on its run: never retried.
      checkout.retry = null;
      break;
    }
    case "convertToTracked": {
      convertToTracked(st, event.checkoutId);
      // Unlinked work a runner waited for at stop may end as a holder: no reason to wait on.
      const runnerId = state.checkouts.get(event.checkoutId)?.runnerId;
      const runner = runnerId === undefined ? undefined : state.runners.get(runnerId);
      const life = runner?.life;
      if (runner !== undefined && life?.phase === "draining" && leavesAtStop(st, runner)) {
        sendShutdown(st, runner, life.reason);
      }
      break;
    }
    case "runnerLeaving": {
      // Announced after a runnerDown (the link closed first) or twice: nothing left to do.
      const runner = state.runners.get(event.runnerId);
      if (runner !== undefined) announcedLeaving(st, runner);
      break;
    }
    case "bootSucceeded":
      onBootSucceeded(st, event.bootId, event.threads ?? 1);
      break;
    case "bootFailed":
      onBootFailed(st, event.bootId, event.error, event.permanent);
      break;
    case "runnerDown": {
      // A duplicate report, or one for a runner the core abandoned, is a known race: no-op.
      const runner = state.runners.get(event.runnerId);
      if (runner !== undefined) runnerGone(st, runner, event.reason);
      break;
    }
    case "idleChecked": {
      // Gone meanwhile: the answer is stale.
      const runner = state.runners.get(event.runnerId);
      if (runner !== undefined) idleChecked(st, runner, event.shutdown);
      break;
    }
    case "resize":
      onResize(st, event.min, event.max, event.buffer ?? state.limits.buffer);
      break;
    case "drainRunner": {
      const runner = state.runners.get(event.runnerId);
      // Leaving or gone already: nothing more to do.
      if (runner !== undefined && isActive(runner) && !state.stopped) {
        drain(st, runner, "operator", true);
      }
      break;
    }
    case "drain":
      if (!state.stopped && state.draining === null) {
        state.draining = { untilMs: event.timeoutMs === null ? null : nowMs + event.timeoutMs };
        telemetry(st, { type: "drain", timeoutMs: event.timeoutMs });
      }
      break;
    case "stop":
      onStop(st);
      break;
    case "tick":
      break;
  }
  fireDueLate(st);
  afterStep(st);
  dropStaleDeadlines(state);
  return { state, effects: st.fx };
}

/**
 * Deadlines due by `nowMs` act before the event (a late tick only delays them): callers'
 * queue bounds, call backstops, pinned calls' bounds and backstops, boots, exits and the
 * drain bound.
 */
function fireDue(st: Step): void {
  const s = st.s;
  for (let id = due.waiter(s, st.nowMs); id !== undefined; id = due.waiter(s, st.nowMs)) {
    waiterTimedOut(st, id);
  }
  for (let id = due.backstop(s, st.nowMs); id !== undefined; id = due.backstop(s, st.nowMs)) {
    backstopPassed(st, id);
  }
  for (let id = due.pinned(s, st.nowMs); id !== undefined; id = due.pinned(s, st.nowMs)) {
    pinnedDeadlinePassed(st, id);
  }
  for (let id = due.boot(s, st.nowMs); id !== undefined; id = due.boot(s, st.nowMs)) {
    bootDeadlinePassed(st, id);
  }
  for (let id = due.exit(s, st.nowMs); id !== undefined; id = due.exit(s, st.nowMs)) {
    exitDeadlinePassed(st, id);
  }
  if (due.drain(s, st.nowMs)) onStop(st);
}

/**
 * The retry and idle deadlines act after the event, on what it left. A call's retry comes
 * after the event too: a backoff of 0 re-queues it in the step that lost its runner, once that
 * runner is gone (so it is never granted to it again).
 */
function fireDueLate(st: Step): void {
  const s = st.s;
  for (let id = due.callRetry(s, st.nowMs); id !== undefined; id = due.callRetry(s, st.nowMs)) {
    callRetryDue(st, id);
  }
  if (due.retry(s, st.nowMs)) retryBoots(st);
  for (let r = due.idle(s, st.nowMs); r !== undefined; r = due.idle(s, st.nowMs)) {
    idleDeadlinePassed(st, r);
  }
}

/** Boots `min` runners, once (an explicit `start`, or the first caller). */
function start(st: Step): void {
  if (st.s.started || st.s.stopped) return;
  st.s.started = true;
  ensureMin(st);
}

/** What any event may have changed, checked once at the end of the step. */
function afterStep(st: Step): void {
  const s = st.s;
  queueWaiters(st);
  unqueueForFreeSlots(st);
  bootForBuffer(st);
  rearmBufferKept(st);
  // A permanent boot failure, and no other boot left that could bring a runner: the callers
  // that were waiting for a boot learn why now instead of at their timeout.
  if (s.bootsBlockedBy !== null && s.pendingBoots.size === 0 && s.waiters.size > 0) {
    const failure: CoreError = { code: "BOOT_FAILED", message: s.bootsBlockedBy, permanent: true };
    if (s.counts.active === 0) rejectWaiters(st, failure);
    else rejectWaiters(st, failure, (cold) => cold);
  }
  failUnservableByBudget(st);
  const draining = s.draining;
  if (draining !== null) {
    const overdue = draining.untilMs !== null && draining.untilMs <= st.nowMs;
    // A drain waits for calls (pinned ones too, running or queued), not for tracked
    // resources: a handle may live forever, so holders do not keep the drain from ending.
    const idle =
      s.waiters.size === 0 &&
      s.checkouts.size === s.holders.size &&
      s.pinned.size === 0 &&
      s.callRetries.size === 0;
    if (overdue || idle) onStop(st);
  }
  if (s.stopped && !s.stoppedReported && s.runners.size === 0 && s.pendingBoots.size === 0) {
    s.stoppedReported = true;
    emit(st, { type: "stopped" });
  }
}

/**
 * A checkin, or a caller gone after its grant: pinned calls and holders first (tracked.ts),
 * which say whose slot, if any, is freed now.
 */
function checkin(st: Step, checkoutId: CheckoutId): void {
  const freed = trackedRelease(st, checkoutId);
  if (freed !== null) releaseSlot(st, freed, true);
}

/** `threads`: how many threads run the runner's functions (its hello): calls it may hold queued. */
function onBootSucceeded(st: Step, bootId: string, threads: number): void {
  const s = st.s;
  const pending = s.pendingBoots.get(bootId);
  // A boot the core gave up on (abortBoot) is the host's to clean up; a duplicate is a no-op.
  if (pending === undefined) return;
  const wasSurplus = s.surplusBoots.has(bootId);
  endBoot(st, pending, true);
  const runner: RunnerState = {
    id: pending.runnerId,
    isMin: false,
    life: { phase: "ready" },
    load: 0,
    bootStartedAtMs: pending.startedAtMs,
    bootedAtMs: st.nowMs,
    callsServed: 0,
    checkouts: new CheckoutList(),
    used: false,
    idleDeadlineMs: null,
    idlePrev: null,
    idleNext: null,
    idleQueue: null,
    freeSlot: NOT_INDEXED,
    queued: [],
    prefetchDepth: Math.max(1, Math.min(threads, s.config.maxConcurrency)),
  };
  s.runners.set(runner.id, runner);
  s.counts.active += 1;
  setRunnerMin(s, runner, pending.isMin);
  s.lastBootError = null;
  s.bootsBlockedBy = null;
  telemetry(st, {
    type: "growEnd",
    bootId,
    count: runnerCount(s),
    ok: true,
    runnerId: runner.id,
    bootMs: st.nowMs - pending.startedAtMs,
  });
  if (wasSurplus && activeOrPendingCount(s) > s.limits.max + s.surplusBoots.size) {
    // A boot that outlived a resize down: it arrives surplus and leaves at once.
    drain(st, runner, "resize", true);
    return;
  }
  if (!runner.isMin && s.limits.min > 0 && s.counts.min < s.limits.min) {
    setRunnerMin(s, runner, true);
  }
  setLoad(s, runner, 0);
  handWaitersTo(st, runner);
  if (runner.load === 0) armIdle(st, runner);
  // A success lifts a permanent failure's block: min boots it held back may go now.
  ensureMin(st);
  bootForDemand(st);
}

function onBootFailed(st: Step, bootId: string, error: string, permanent: boolean): void {
  const s = st.s;
  const pending = s.pendingBoots.get(bootId);
  if (pending === undefined) return;
  bootEndedInFailure(st, pending, error, permanent);
  if (!permanent) {
    scheduleRetry(st);
    return;
  }
  // Retrying cannot help: no more boots until demand changes (a new caller, a resize); the
  // waiting callers are failed at the end of the step once no other boot is in flight.
  s.bootsBlockedBy = error;
  s.retryAtMs = null;
}
