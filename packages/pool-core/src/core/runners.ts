/**
 * Runner and boot moves: how a runner takes load, leaves (drain, shutdown, an announced exit),
 * is killed or abandoned at its exit deadlines, and goes for good; how a boot ends. Every phase
 * change goes through `moveRunner` (state.ts). When a move frees room, the rules that refill
 * it (min, demand) are policy.ts's.
 */
import { retryAfterRunnerLoss } from "./admission.js";
import { armIdle, bootForDemand, ensureMin, handWaitersTo, scheduleRetry } from "./policy.js";
import {
  type CheckoutState,
  indexedBelow,
  isActive,
  moveRunner,
  type PendingBoot,
  type PoolState,
  type QueuedCall,
  type RunnerState,
  removeRunner,
  runnerCount,
  slotsPerRunner,
} from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { armExitDeadline, armIdleDeadline } from "./timers.js";
import { failPinnedOf, onlyHoldersOn, rejectPinnedQueuedOn } from "./tracked.js";
import type { BootId, CheckoutId, CoreError, RunnerId, ShutdownReason } from "./types.js";

/**
 * Moves a runner between load buckets; only active runners with room are indexed (a free slot,
 * or room for a queued call: `indexedBelow`). Once its load is back within its slots, the call
 * it held queued has started (the runner starts the oldest queued call when a slot frees) or
 * left.
 */
export function setLoad(s: PoolState, runner: RunnerState, load: number): void {
  s.free.remove(runner, runner.load);
  runner.load = load;
  if (isActive(runner) && load < indexedBelow(s, runner)) s.free.add(runner, load);
  // The runner starts its oldest queued call when a slot frees.
  const queued = runner.queued;
  while (queued.length > Math.max(0, load - slotsPerRunner(s))) {
    dropQueued(s, runner, queued[0] as QueuedCall);
  }
}

/** `call` is no longer queued on `runner`: it started, was given back or answered, or left. */
function dropQueued(s: PoolState, runner: RunnerState, call: QueuedCall): void {
  const at = runner.queued.indexOf(call);
  if (at < 0) return;
  runner.queued.splice(at, 1);
  s.counts.queued -= 1;
  if (call.unqueueSent) s.counts.unqueuing -= 1;
  if (runner.queued.length === 0) s.queuedOn.delete(runner);
}

/** The queued entry of `checkout` on its runner, if it is one. */
export function queuedEntry(runner: RunnerState, checkout: CheckoutState): QueuedCall | undefined {
  for (const call of runner.queued) if (call.checkout === checkout) return call;
  return undefined;
}

/**
 * A runner draining at stop (for unlinked work) with only holders of tracked resources left on
 * it: they do not make the stop wait (a handle may live forever), so it leaves now.
 */
export function leavesAtStop(st: Step, runner: RunnerState): boolean {
  return st.s.stopped && onlyHoldersOn(st.s, runner);
}

/**
 * A checkout ends (checkin, or its caller went away after the grant), and its slot is free;
 * `served`: it counts as a call its runner served.
 */
export function releaseSlot(st: Step, checkoutId: CheckoutId, served: boolean): void {
  const s = st.s;
  const checkout = s.checkouts.get(checkoutId);
  // Known race: a checkin after runnerDown already failed this checkout. A no-op (FLAME raises).
  if (checkout === undefined) return;
  s.checkouts.delete(checkoutId);
  const runner = s.runners.get(checkout.runnerId);
  if (runner === undefined) return;
  runner.checkouts.delete(checkout);
  // A queued call that ends (answered before it started) is that entry, not the oldest one.
  const queued = runner.queued.length > 0 ? queuedEntry(runner, checkout) : undefined;
  if (queued !== undefined) dropQueued(s, runner, queued);
  setLoad(s, runner, runner.load - 1);
  if (served) runner.callsServed += 1;
  const life = runner.life;
  if (s.config.singleUse && isActive(runner)) {
    drain(st, runner, "single_use", true);
    return;
  }
  if (life.phase === "draining") {
    if (runner.load === 0 || leavesAtStop(st, runner)) sendShutdown(st, runner, life.reason);
    return;
  }
  if (!isActive(runner)) return; // shutdown already sent: it is on its way out
  handWaitersTo(st, runner);
  if (runner.load === 0) armIdle(st, runner);
}

/** Stops granting to `runner`; sends its shutdown now or once its last checkout ends. */
export function drain(st: Step, runner: RunnerState, reason: ShutdownReason, now: boolean): void {
  const s = st.s;
  s.free.remove(runner, runner.load);
  armIdleDeadline(s, runner, null);
  if (now || runner.load === 0) sendShutdown(st, runner, reason);
  else moveRunner(s, runner, { phase: "draining", reason, shutdownAtMs: null });
}

/** Asks the runner to leave; it is killed at `killAtMs` if it has not exited by then. */
export function sendShutdown(st: Step, runner: RunnerState, reason: ShutdownReason): void {
  stopping(st, runner, reason);
  emit(st, {
    type: "shutdownRunner",
    runnerId: runner.id,
    reason,
    timeoutMs: st.s.config.shutdownTimeoutMs,
  });
  rejectPinnedQueuedOn(st, runner);
}

/**
 * The runner said it is leaving: no new work, nothing sent to it (it is on its way out), and
 * the same exit bound as a runner asked to leave.
 */
export function announcedLeaving(st: Step, runner: RunnerState): void {
  const phase = runner.life.phase;
  if (phase === "stopping" || phase === "killed") return;
  st.s.free.remove(runner, runner.load);
  armIdleDeadline(st.s, runner, null);
  stopping(st, runner, "announced");
  rejectPinnedQueuedOn(st, runner);
}

function stopping(st: Step, runner: RunnerState, reason: ShutdownReason): void {
  const killAtMs = st.nowMs + st.s.config.shutdownTimeoutMs;
  moveRunner(st.s, runner, { phase: "stopping", reason, killAtMs });
  armExitDeadline(st.s, runner.id, killAtMs);
}

/**
 * A runner asked to leave passed its exit deadline: at `killAtMs` the backend is told to kill
 * it; at `abandonAtMs` (the backend never reported the exit, e.g. a hung Docker daemon) the
 * core forgets it, so stop() and the pool's accounting never wait on a backend forever.
 */
export function exitDeadlinePassed(st: Step, runnerId: RunnerId): void {
  const s = st.s;
  const runner = s.runners.get(runnerId) as RunnerState;
  const life = runner.life;
  if (life.phase === "draining") {
    // Unlinked work kept it past the stop for as long as it may: it is asked to leave now.
    sendShutdown(st, runner, life.reason);
    return;
  }
  if (life.phase === "stopping") {
    const abandonAtMs = st.nowMs + s.config.killGraceMs;
    moveRunner(s, runner, { phase: "killed", reason: life.reason, abandonAtMs });
    armExitDeadline(s, runner.id, abandonAtMs);
    const reason = `did not exit within shutdownTimeout (${s.config.shutdownTimeoutMs} ms)`;
    emit(st, { type: "killRunner", runnerId, reason });
    telemetry(st, { type: "runnerKilled", runnerId, reason, abandoned: false });
  } else {
    const reason = `no exit reported within ${s.config.killGraceMs} ms of the kill; abandoned`;
    emit(st, { type: "forgetRunner", runnerId, reason });
    telemetry(st, { type: "runnerKilled", runnerId, reason, abandoned: true });
    runnerGone(st, runner, reason);
  }
}

/**
 * At stop, a runner running unlinked work (`link: false`) takes no new work and is asked to
 * leave once its work ends, or after `shutdownTimeoutMs` at the latest (FLAME: unlinked work
 * is not killed with its caller). Returns false when it runs none (it leaves as usual).
 */
export function waitForUnlinked(st: Step, runner: RunnerState): boolean {
  const s = st.s;
  let unlinked = 0;
  for (const checkout of runner.checkouts) if (checkout.unlinked) unlinked += 1;
  if (unlinked === 0) return false;
  const timeoutMs = s.config.shutdownTimeoutMs;
  const shutdownAtMs = st.nowMs + timeoutMs;
  s.free.remove(runner, runner.load);
  armIdleDeadline(s, runner, null);
  const life = { phase: "draining", reason: "stop", shutdownAtMs } as const;
  // Already draining (an operator, a resize): same phase, now with the stop's bound.
  if (runner.life.phase === "draining") runner.life = life;
  else moveRunner(s, runner, life);
  armExitDeadline(s, runner.id, shutdownAtMs);
  telemetry(st, { type: "unlinkedWait", runnerId: runner.id, unlinked, timeoutMs });
  return true;
}

/** Removes a runner for good, failing what it still held. */
export function runnerGone(st: Step, runner: RunnerState, reason: string): void {
  const s = st.s;
  for (const checkout of runner.checkouts) {
    const checkoutId = checkout.id;
    s.checkouts.delete(checkoutId);
    if (s.holders.size > 0) failPinnedOf(st, checkoutId, runner.id, reason);
    const error = runnerDownError(runner.id, reason);
    if (!retryAfterRunnerLoss(st, checkout, error)) {
      emit(st, { type: "failCheckout", checkoutId, error });
    }
  }
  runner.checkouts.clear();
  while (runner.queued.length > 0) dropQueued(s, runner, runner.queued[0] as QueuedCall);
  s.free.remove(runner, runner.load);
  armIdleDeadline(s, runner, null);
  s.ledger?.close(runner.id, st.nowMs);
  const leftForIdle = runner.isMin && "reason" in runner.life && runner.life.reason === "idle";
  removeRunner(s, runner);
  telemetry(st, {
    type: "shrink",
    runnerId: runner.id,
    count: s.runners.size + s.pendingBoots.size,
    reason,
  });
  if (s.stopped) return;
  // Back up to min when below it (FLAME #60: a crash or a finished single-use runner), also
  // when min was raised while max was full and this exit frees the room. Only a min runner
  // that idled out on purpose (minIdleShutdownAfterMs) is not brought back.
  if (!leftForIdle) ensureMin(st);
  bootForDemand(st);
}

function runnerDownError(runnerId: RunnerId, reason: string): CoreError {
  return { code: "RUNNER_DOWN", message: `Runner ${runnerId} went down: ${reason}` };
}

/** Forgets a pending boot (it came up, failed, or was given up on). */
export function endBoot(st: Step, pending: PendingBoot, ok: boolean): void {
  const s = st.s;
  s.pendingBoots.delete(pending.id);
  s.surplusBoots.delete(pending.id);
  if (pending.isMin) s.counts.min -= 1;
  if (!ok) s.ledger?.close(pending.runnerId, st.nowMs);
}

/** A boot ended without a runner: report it and record the error for later TIMEOUTs. */
export function bootEndedInFailure(
  st: Step,
  pending: PendingBoot,
  error: string,
  permanent: boolean,
): void {
  const s = st.s;
  endBoot(st, pending, false);
  s.lastBootError = error;
  telemetry(st, {
    type: "growEnd",
    bootId: pending.id,
    count: runnerCount(s),
    ok: false,
    runnerId: pending.runnerId,
    bootMs: st.nowMs - pending.startedAtMs,
    error,
    ...(permanent ? { permanent } : {}),
  });
}

/** A boot that did not bring a runner up in time is given up on (and retried after the debounce). */
export function bootDeadlinePassed(st: Step, bootId: BootId): void {
  const s = st.s;
  const pending = s.pendingBoots.get(bootId) as PendingBoot;
  const reason = `runner ${pending.runnerId} did not say hello within bootTimeout (${s.config.bootTimeoutMs} ms)`;
  emit(st, { type: "abortBoot", bootId, runnerId: pending.runnerId, reason });
  bootEndedInFailure(st, pending, reason, false);
  scheduleRetry(st);
}
