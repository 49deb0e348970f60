/**
 * Tracked resources and the calls pinned to them (issue 24), as policy:
 *
 * - A granted call answered with tracked values becomes their holder (`convertToTracked`): it
 *   keeps its slot, so its runner's load stays ≥ 1 and it never idles out, with no backstop
 *   and no retry, until its `checkin` (the host sends it once every handle is released) or its
 *   runner goes.
 * - A call pinned to a holder (`checkout` with `on`) runs on the holder's runner, in the
 *   holder's slot: it takes no slot of its own (load, the free-slot index and `maxConcurrency`
 *   never see it, and it is never in `checkouts`). One runs at a time per holder; the others
 *   queue FIFO on that holder, each with its own queue bound. A running one has the backstop of
 *   any call. Never retried: RESOURCE_GONE when its holder or runner is gone, never rerouted.
 * - A holder checked in while one of its pinned calls runs is freed when that call ends; its
 *   queued calls fail RESOURCE_GONE at once (released).
 * - A runner leaving fails its holders' queued calls (RESOURCE_GONE) but lets the running ones
 *   finish; a runner gone fails them all, then the holder itself (RUNNER_DOWN).
 *
 * Everything here is O(1) per event except where a runner leaves or the pool stops (O(checkouts
 * of that runner), O(holders)), which are not on the call path.
 */
import { backstopError } from "./policy.js";
import type { HolderState, PinnedState, PoolState, RunnerState } from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { armBackstop, armPinnedDeadline } from "./timers.js";
import type { CheckoutId, CoreError, RunnerId } from "./types.js";

/** A granted call answered with tracked values: it becomes their holder (children excepted). */
export function convertToTracked(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const checkout = s.checkouts.get(checkoutId);
  if (checkout === undefined || checkout.childId !== null || s.holders.has(checkoutId)) return;
  // Its caller has its answer; what is left may live as long as a handle does: no backstop,
  // no retry (a runner loss now is the resources' loss), and stop does not wait for it.
  armBackstop(s, checkout, null);
  checkout.retry = null;
  checkout.unlinked = false;
  s.holders.set(checkoutId, {
    id: checkoutId,
    runnerId: checkout.runnerId,
    running: null,
    queue: new Set(),
    releasing: false,
  });
}

/**
 * A call pinned to holder `on` (the pool takes calls and the timeout has not passed: checked
 * by admission.ts). Granted at once when the holder runs no pinned call, queued on it otherwise.
 */
export function pinnedCheckout(
  st: Step,
  checkoutId: CheckoutId,
  on: CheckoutId,
  timeoutMs: number | null,
  unboundedRun: boolean,
): void {
  const s = st.s;
  const holder = s.holders.get(on);
  const gone =
    holder === undefined
      ? s.checkouts.has(on)
        ? "that call holds no tracked resources"
        : "they were released, or their runner went away (or they never existed)"
      : holderGoneReason(s, holder);
  if (holder === undefined || gone !== null) {
    emit(st, { type: "reject", checkoutId, error: resourceGone(checkoutId, on, gone as string) });
    return;
  }
  const pinned: PinnedState = {
    id: checkoutId,
    holderId: on,
    runnerId: holder.runnerId,
    running: false,
    timeoutMs,
    callDeadlineMs: timeoutMs === null ? null : st.nowMs + timeoutMs,
    unboundedRun,
    deadlineAtMs: null,
    enqueuedAtMs: st.nowMs,
    seq: s.nextPinnedSeq++,
  };
  s.pinned.set(checkoutId, pinned);
  if (holder.running === null) {
    startPinned(st, holder, pinned);
    return;
  }
  holder.queue.add(checkoutId);
  armPinnedDeadline(s, pinned, pinned.callDeadlineMs);
}

/** Why a live holder takes no new pinned call, or null when it does. */
function holderGoneReason(s: PoolState, holder: HolderState): string | null {
  if (holder.releasing) return "they are being released";
  const runner = s.runners.get(holder.runnerId) as RunnerState;
  const life = runner.life;
  // A draining runner still serves its holders' pinned calls; one asked to exit does not.
  if (life.phase === "stopping" || life.phase === "killed") {
    return `their runner ${runner.id} is leaving (${life.reason})`;
  }
  return null;
}

function resourceGone(checkoutId: CheckoutId, on: CheckoutId, why: string): CoreError {
  return {
    code: "RESOURCE_GONE",
    message: `Call ${checkoutId} is pinned to the tracked resources of call ${on}, but ${why}; call the function that tracks them again for a new handle.`,
  };
}

function startPinned(st: Step, holder: HolderState, pinned: PinnedState): void {
  const s = st.s;
  holder.running = pinned.id;
  pinned.running = true;
  const runDeadlineMs = pinned.unboundedRun ? null : pinned.callDeadlineMs;
  armPinnedDeadline(
    s,
    pinned,
    runDeadlineMs === null ? null : runDeadlineMs + s.config.deadlineGraceMs,
  );
  emit(st, { type: "grant", checkoutId: pinned.id, runnerId: holder.runnerId, runDeadlineMs });
  telemetry(st, {
    type: "checkout",
    checkoutId: pinned.id,
    runnerId: holder.runnerId,
    waitedMs: st.nowMs - pinned.enqueuedAtMs,
  });
}

/**
 * A `checkin` or `callerGone` that may concern tracked resources. Returns the checkout whose
 * slot the usual release path must free now: `checkoutId` itself when it is no pinned call and
 * no holder with a pinned call running, the holder of a pinned call that was the last thing
 * keeping a released holder, or null when no slot is freed.
 */
export function trackedRelease(st: Step, checkoutId: CheckoutId): CheckoutId | null {
  const s = st.s;
  if (s.holders.size === 0) return checkoutId; // the common case: no lookups on the hot path
  const pinned = s.pinned.get(checkoutId);
  if (pinned !== undefined) return pinnedEnded(st, pinned);
  const holder = s.holders.get(checkoutId);
  if (holder === undefined) return checkoutId;
  rejectQueue(st, holder, "they were released");
  if (holder.running !== null) {
    // Its slot is the running pinned call's too: freed when that call ends.
    holder.releasing = true;
    return null;
  }
  s.holders.delete(checkoutId);
  return checkoutId;
}

/** A pinned call checked in or its caller went: the holder's next queued call runs. */
function pinnedEnded(st: Step, pinned: PinnedState): CheckoutId | null {
  const s = st.s;
  s.pinned.delete(pinned.id);
  const holder = s.holders.get(pinned.holderId) as HolderState;
  if (!pinned.running) {
    holder.queue.delete(pinned.id);
    return null;
  }
  holder.running = null;
  const runner = s.runners.get(holder.runnerId);
  if (runner !== undefined) runner.callsServed += 1;
  if (holder.releasing) {
    s.holders.delete(holder.id);
    return holder.id;
  }
  for (const nextId of holder.queue) {
    holder.queue.delete(nextId);
    startPinned(st, holder, s.pinned.get(nextId) as PinnedState);
    break;
  }
  return null;
}

/** A queued pinned call's bound passed (TIMEOUT), or a running one's backstop. */
export function pinnedDeadlinePassed(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const pinned = s.pinned.get(checkoutId) as PinnedState;
  armPinnedDeadline(s, pinned, null);
  const waitedMs = st.nowMs - pinned.enqueuedAtMs;
  if (!pinned.running) {
    s.pinned.delete(checkoutId);
    (s.holders.get(pinned.holderId) as HolderState).queue.delete(checkoutId);
    emit(st, {
      type: "reject",
      checkoutId,
      error: {
        code: "TIMEOUT",
        message: `Pool "${s.config.name}": the calls pinned to the tracked resources of call ${pinned.holderId} before this one did not end within its timeout (${pinned.timeoutMs ?? waitedMs} ms); pinned calls run one at a time per resource. Raise \`timeout\`, or track one resource per concurrent user.`,
      },
    });
    telemetry(st, { type: "timeout", checkoutId, waitedMs });
    return;
  }
  // As any call's backstop (policy.ts): the caller fails now, the holder's slot stays busy
  // with it until the work stops (its checkin) or the runner goes down.
  emit(st, {
    type: "failCheckout",
    checkoutId,
    answeredEarly: true,
    error: backstopError(s, pinned.runnerId),
  });
}

/** Rejects a holder's queued pinned calls RESOURCE_GONE, saying `why`. */
function rejectQueue(st: Step, holder: HolderState, why: string): void {
  for (const id of holder.queue) {
    st.s.pinned.delete(id);
    emit(st, { type: "reject", checkoutId: id, error: resourceGone(id, holder.id, why) });
  }
  holder.queue.clear();
}

/**
 * The runner was asked to exit or announced it is leaving: its holders' queued pinned calls
 * would never run. The running ones finish (or fail with the runner) like any running call.
 */
export function rejectPinnedQueuedOn(st: Step, runner: RunnerState): void {
  const s = st.s;
  if (s.holders.size === 0) return;
  const reason = "reason" in runner.life ? runner.life.reason : "leaving";
  for (const { id } of runner.checkouts) {
    const holder = s.holders.get(id);
    if (holder !== undefined && holder.queue.size > 0) {
      rejectQueue(st, holder, `their runner ${runner.id} is leaving (${reason})`);
    }
  }
}

/** The pool stops: every queued pinned call is refused with the stop's error. */
export function rejectPinnedQueued(st: Step, error: CoreError): void {
  for (const holder of st.s.holders.values()) {
    for (const id of holder.queue) {
      st.s.pinned.delete(id);
      emit(st, { type: "reject", checkoutId: id, error });
    }
    holder.queue.clear();
  }
}

/**
 * Runner `runnerId` is gone, and with it the resources of holder `checkoutId` (if it is one):
 * queued pinned calls fail RESOURCE_GONE, the running one RUNNER_DOWN, before the caller fails
 * the holder itself (RUNNER_DOWN; the host marks its handles gone). None is retried.
 */
export function failPinnedOf(
  st: Step,
  checkoutId: CheckoutId,
  runnerId: RunnerId,
  reason: string,
): void {
  const s = st.s;
  const holder = s.holders.get(checkoutId);
  if (holder === undefined) return;
  s.holders.delete(checkoutId);
  rejectQueue(st, holder, `their runner ${runnerId} went down: ${reason}`);
  if (holder.running === null) return;
  s.pinned.delete(holder.running);
  emit(st, {
    type: "failCheckout",
    checkoutId: holder.running,
    error: { code: "RUNNER_DOWN", message: `Runner ${runnerId} went down: ${reason}` },
  });
}

/**
 * Whether every slot still held on `runner` is a holder's: at stop, such a runner is not waited
 * for (a handle may live forever). O(checkouts of the runner); only asked of a runner draining
 * at stop.
 */
export function onlyHoldersOn(s: PoolState, runner: RunnerState): boolean {
  if (s.holders.size === 0 || runner.checkouts.size === 0) return false;
  for (const { id } of runner.checkouts) if (!s.holders.has(id)) return false;
  return true;
}

/** Holders and pinned calls (running plus queued) per runner, for the snapshot. O(holders). */
export function trackedCounts(s: PoolState): Map<RunnerId, { tracked: number; pinned: number }> {
  const counts = new Map<RunnerId, { tracked: number; pinned: number }>();
  for (const holder of s.holders.values()) {
    const c = counts.get(holder.runnerId) ?? { tracked: 0, pinned: 0 };
    c.tracked += 1;
    c.pinned += holder.queue.size + (holder.running === null ? 0 : 1);
    counts.set(holder.runnerId, c);
  }
  return counts;
}
