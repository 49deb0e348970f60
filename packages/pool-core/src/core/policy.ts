/**
 * The pool's policy moves, shared by the event handlers (reducer.ts) and the timers
 * (timers.ts): grant a slot, boot (within max, the retry debounce, a permanent failure's
 * block and the budget), keep min and buffer, drain and shut runners down.
 */
import {
  activeOrPendingCount,
  capacityOf,
  isActive,
  moveRunner,
  type PendingBoot,
  type PoolState,
  type RunnerState,
  runnerCount,
  setRunnerMin,
} from "./state.js";
import type {
  CheckoutId,
  CoreError,
  CoreTelemetryEvent,
  Effect,
  RunnerId,
  ShutdownReason,
} from "./types.js";

/** One step's scratch: the state, the time it happens at, and the effects it produces. */
export interface Step {
  readonly s: PoolState;
  readonly nowMs: number;
  readonly fx: Effect[];
  /** Runner time spent in the budget window, read once per step (null = not read yet). */
  spentMs: number | null;
  /** A boot was needed this step and the budget refused it. */
  budgetRefused: boolean;
}

export function grant(
  st: Step,
  checkoutId: CheckoutId,
  runner: RunnerState,
  waitedMs: number,
  runDeadlineMs: number | null,
): void {
  const s = st.s;
  s.checkouts.set(checkoutId, { id: checkoutId, runnerId: runner.id, childId: null });
  runner.checkouts.add(checkoutId);
  runner.idleDeadlineMs = null;
  if (s.bufferKept.size > 0) s.bufferKept.delete(runner.id);
  // A grant answers the pending idle check: the runner is busy, so it stays.
  if (runner.life.phase === "idleCheck") moveRunner(s, runner, { phase: "ready" });
  if (s.config.singleUse) runner.used = true;
  setLoad(s, runner, runner.load + 1);
  emit(st, { type: "grant", checkoutId, runnerId: runner.id, runDeadlineMs });
  telemetry(st, { type: "checkout", checkoutId, runnerId: runner.id, waitedMs });
}

/** Gives a ready runner's free slots to the oldest live waiters (up to its capacity). */
export function handWaitersTo(st: Step, runner: RunnerState): void {
  const s = st.s;
  if (s.waiters.size === 0) return; // the common case: no iterator on the hot path
  for (const waiter of s.waiters.values()) {
    if (!isActive(runner) || runner.load >= capacityOf(s, runner)) return;
    s.waiters.delete(waiter.id);
    // A cold caller waited for a boot: it gets its whole timeout to run (FLAME #73).
    const runDeadlineMs =
      waiter.timeoutMs === null
        ? null
        : waiter.cold
          ? st.nowMs + waiter.timeoutMs
          : waiter.callDeadlineMs;
    grant(st, waiter.id, runner, st.nowMs - waiter.enqueuedAtMs, runDeadlineMs);
  }
}

/** Whether boots may start now: not stopped, no retry debouncing, no permanent failure. */
function bootsAllowed(s: PoolState): boolean {
  return !s.stopped && s.retryAtMs === null && s.bootsBlockedBy === null;
}

/**
 * Boots for queued callers: while the pool is under `max` and the boots already in flight
 * cannot absorb the queue (`pending × slots < waiting`).
 */
export function bootForDemand(st: Step): void {
  const s = st.s;
  while (
    bootsAllowed(s) &&
    s.waiters.size > 0 &&
    runnerCount(s) < s.limits.max &&
    s.pendingBoots.size * perRunnerSlots(s) < s.waiters.size
  ) {
    if (!boot(st, false)) return;
  }
}

/** Keeps `min` runners designated as min: promote ready runners first, then boot. */
export function ensureMin(st: Step): void {
  const s = st.s;
  if (s.stopped || s.draining !== null || !s.started || s.limits.min === 0) return;
  if (s.counts.min >= s.limits.min) return;
  // Promote ready runners first; look only when some active runner is not min yet (with all
  // runners min, a crash and its replacement must not walk 10,000 of them).
  if (s.counts.active > s.counts.minActive) promoteToMin(st);
  while (s.counts.min < s.limits.min && runnerCount(s) < s.limits.max && bootsAllowed(s)) {
    if (!boot(st, true)) return;
  }
}

function promoteToMin(st: Step): void {
  const s = st.s;
  for (const runner of s.runners.values()) {
    if (s.counts.min >= s.limits.min || s.counts.active === s.counts.minActive) return;
    if (runner.isMin || !isActive(runner)) continue;
    setRunnerMin(s, runner, true);
    if (runner.load === 0) armIdle(st, runner);
  }
}

/** Idle ready runners plus boots nobody waits for: what `buffer` counts. O(1). */
export function spareRunners(s: PoolState): number {
  const absorbed = Math.ceil(s.waiters.size / perRunnerSlots(s));
  return s.free.countAt(0) + Math.max(0, s.pendingBoots.size - absorbed);
}

/** Boots until `buffer` runners are spare beyond current demand (within max). */
export function bootForBuffer(st: Step): void {
  const s = st.s;
  if (s.limits.buffer === 0 || s.draining !== null || !s.started) return;
  while (bootsAllowed(s) && spareRunners(s) < s.limits.buffer && runnerCount(s) < s.limits.max) {
    if (!boot(st, false)) return;
  }
}

/** Starts a boot unless the budget is spent; false (and budget telemetry) when refused. */
function boot(st: Step, isMin: boolean): boolean {
  const s = st.s;
  const budget = s.config.budget;
  if (budget !== null) {
    st.spentMs ??= s.ledger.spentMs(st.nowMs);
    if (st.spentMs >= budget.runnerMs) {
      st.budgetRefused = true;
      if (!s.budgetBlocked) {
        s.budgetBlocked = true;
        telemetry(st, { type: "budgetBlocked", spentMs: st.spentMs, budgetMs: budget.runnerMs });
      }
      return false;
    }
    s.budgetBlocked = false;
  }
  const n = s.nextBootNumber++;
  const bootId = `b${n}`;
  const runnerId = `${s.config.runnerIdPrefix}${n}`;
  const deadlineMs = st.nowMs + s.config.bootTimeoutMs;
  s.pendingBoots.set(bootId, { id: bootId, runnerId, isMin, startedAtMs: st.nowMs, deadlineMs });
  if (isMin) s.counts.min += 1;
  s.bootDeadlines.push(deadlineMs, bootId);
  s.ledger.open(runnerId, st.nowMs);
  emit(st, { type: "boot", bootId, runnerId, isMin, deadlineMs });
  telemetry(st, { type: "growStart", bootId, runnerId, count: runnerCount(s), isMin });
  return true;
}

/** Forgets a pending boot (it came up, failed, or was given up on). */
export function endBoot(st: Step, pending: PendingBoot, ok: boolean): void {
  const s = st.s;
  s.pendingBoots.delete(pending.id);
  s.surplusBoots.delete(pending.id);
  if (pending.isMin) s.counts.min -= 1;
  if (!ok) s.ledger.close(pending.runnerId, st.nowMs);
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

/** After a resize down: drain idle surplus runners now, busy ones once they are idle. */
export function shrinkToMax(st: Step): void {
  const s = st.s;
  let excess = activeOrPendingCount(s) - s.limits.max - s.surplusBoots.size;
  if (excess <= 0) return;
  const candidates = [...s.runners.values()]
    .filter((r) => isActive(r) && !r.isMin)
    .sort((a, b) => a.load - b.load);
  for (const runner of candidates) {
    if (excess <= 0) return;
    drain(st, runner, "resize", runner.load === 0);
    excess -= 1;
  }
}

/** Stops granting to `runner`; sends its shutdown now or once its last checkout ends. */
export function drain(st: Step, runner: RunnerState, reason: ShutdownReason, now: boolean): void {
  const s = st.s;
  s.free.remove(runner.id, runner.load);
  runner.idleDeadlineMs = null;
  if (now || runner.load === 0) sendShutdown(st, runner, reason);
  else moveRunner(s, runner, { phase: "draining", reason });
}

/** Asks the runner to leave; it is killed at `killAtMs` if it has not exited by then. */
export function sendShutdown(st: Step, runner: RunnerState, reason: ShutdownReason): void {
  const s = st.s;
  const killAtMs = st.nowMs + s.config.shutdownTimeoutMs;
  moveRunner(s, runner, { phase: "stopping", reason, killAtMs });
  s.exitDeadlines.push(killAtMs, runner.id);
  emit(st, {
    type: "shutdownRunner",
    runnerId: runner.id,
    reason,
    timeoutMs: s.config.shutdownTimeoutMs,
  });
}

/** Why a runner is leaving, or null while it takes work. */
export function leaveReason(runner: RunnerState): ShutdownReason | null {
  return "reason" in runner.life ? runner.life.reason : null;
}

export function armIdle(st: Step, runner: RunnerState): void {
  const s = st.s;
  if (s.bufferKept.size > 0) s.bufferKept.delete(runner.id);
  const afterMs = runner.isMin ? s.config.minIdleShutdownAfterMs : s.config.idleShutdownAfterMs;
  if (afterMs === null || runner.life.phase !== "ready" || s.stopped) {
    runner.idleDeadlineMs = null;
    return;
  }
  runner.idleDeadlineMs = st.nowMs + afterMs;
  s.idleDeadlines.push(runner.idleDeadlineMs, runner.id);
  if (s.idleDeadlines.size > compactionThreshold(s.runners.size)) compactIdleDeadlines(s);
}

/**
 * Lazy deletion leaves stale entries behind (a runner re-armed, a waiter granted); they only
 * leave when they reach the top. Under steady load that is one entry per checkin per idle
 * window, so once stale entries outnumber live ones the heap is rebuilt from the live
 * deadlines: O(n) every n pushes, O(1) amortized, memory bounded by 2× the live count.
 */
export function compactionThreshold(live: number): number {
  return 2 * live + 64;
}

function compactIdleDeadlines(s: PoolState): void {
  s.idleDeadlines.clear();
  for (const runner of s.runners.values()) {
    if (runner.idleDeadlineMs !== null) s.idleDeadlines.push(runner.idleDeadlineMs, runner.id);
  }
}

export function compactWaiterDeadlines(s: PoolState): void {
  s.waiterDeadlines.clear();
  for (const waiter of s.waiters.values()) {
    if (waiter.deadlineMs !== null) s.waiterDeadlines.push(waiter.deadlineMs, waiter.id);
  }
}

/** Moves a runner between load buckets; only active runners with a free slot are indexed. */
export function setLoad(s: PoolState, runner: RunnerState, load: number): void {
  s.free.remove(runner.id, runner.load);
  runner.load = load;
  if (isActive(runner) && load < capacityOf(s, runner)) s.free.add(runner.id, load);
}

export function hasUnmetDemand(s: PoolState): boolean {
  return s.waiters.size > 0 && runnerCount(s) < s.limits.max;
}

export function needsMin(s: PoolState): boolean {
  return s.limits.min > 0 && s.counts.min < s.limits.min && s.draining === null;
}

export function perRunnerSlots(s: PoolState): number {
  return s.config.singleUse ? 1 : s.config.maxConcurrency;
}

/** Rejects every waiter with `error` (stop, a permanent boot failure, a spent budget). */
export function rejectWaiters(st: Step, error: CoreError, only?: (cold: boolean) => boolean): void {
  for (const waiter of st.s.waiters.values()) {
    if (only !== undefined && !only(waiter.cold)) continue;
    st.s.waiters.delete(waiter.id);
    emit(st, { type: "reject", checkoutId: waiter.id, error });
  }
}

export function emit(st: Step, effect: Effect): void {
  st.fx.push(effect);
}

export function telemetry(st: Step, event: CoreTelemetryEvent): void {
  st.fx.push({ type: "telemetry", event });
}

export function runnerDownError(runnerId: RunnerId, reason: string): CoreError {
  return { code: "RUNNER_DOWN", message: `Runner ${runnerId} went down: ${reason}` };
}
