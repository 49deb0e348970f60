/**
 * The pool's rules, each in one place: granting (least-loaded runner, FIFO waiters, the
 * caller's queue bound and the call backstop), booting for demand (within max and the retry
 * debounce), `min`, `buffer`, the runner-time `budget`, and idle shutdown. Deadlines are armed
 * and found due in timers.ts; runner moves (drain, shutdown, gone) are in runners.ts.
 */
import { queuedCallAnswered } from "./prefetch.js";
import { drain, setLoad } from "./runners.js";
import {
  type CallRetry,
  type CheckoutState,
  CoreTransitionError,
  capacityOf,
  isActive,
  moveRunner,
  type PoolState,
  queuedDemand,
  type RunnerState,
  runnerCount,
  setRunnerMin,
  slotsPerRunner,
  type WaiterState,
} from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { armBackstop, armBootDeadline, armIdleDeadline } from "./timers.js";
import type { CheckoutId, CoreError } from "./types.js";

// ---- granting --------------------------------------------------------------------------------

/**
 * Grants `runner` to the caller. On a runner whose slots are all taken (prefetch.ts) the call
 * waits there queued: `waiter` is the caller as it waited, kept to place it again if the
 * runner gives it back. `reported` false: a call given back and granted again, whose wait
 * telemetry already went out with its first grant.
 */
export function grant(
  st: Step,
  checkoutId: CheckoutId,
  runner: RunnerState,
  waitedMs: number,
  runDeadlineMs: number | null,
  retry: CallRetry | null,
  unlinked: boolean,
  waiter: WaiterState | null = null,
  reported = true,
): void {
  const s = st.s;
  const checkout: CheckoutState = {
    id: checkoutId,
    runnerId: runner.id,
    childId: null,
    backstopAtMs: null,
    retry,
    unlinked,
    prevOnRunner: null,
    nextOnRunner: null,
    onRunner: null,
  };
  s.checkouts.set(checkoutId, checkout);
  // The runner answers TIMEOUT at the deadline; one that never answers is failed here.
  armBackstop(
    s,
    checkout,
    runDeadlineMs === null ? null : runDeadlineMs + s.config.deadlineGraceMs,
  );
  runner.checkouts.add(checkout);
  armIdleDeadline(s, runner, null);
  if (s.bufferKept.size > 0) s.bufferKept.delete(runner.id);
  // A grant answers the pending idle check: the runner is busy, so it stays.
  if (runner.life.phase === "idleCheck") moveRunner(s, runner, { phase: "ready" });
  const full = runner.load >= capacityOf(s, runner);
  if (s.config.singleUse) runner.used = true;
  setLoad(s, runner, runner.load + 1);
  if (full) holdQueued(s, runner, checkout, waiter, runDeadlineMs);
  emit(st, { type: "grant", checkoutId, runnerId: runner.id, runDeadlineMs });
  if (reported) telemetry(st, { type: "checkout", checkoutId, runnerId: runner.id, waitedMs });
}

function holdQueued(
  s: PoolState,
  runner: RunnerState,
  checkout: CheckoutState,
  waiter: WaiterState | null,
  runDeadlineMs: number | null,
): void {
  if (waiter === null || runner.queued.length >= runner.prefetchDepth) {
    throw new CoreTransitionError(
      `checkout ${checkout.id} granted to full runner ${runner.id} ${waiter === null ? "without its waiter" : `which already holds ${runner.queued.length} queued calls`}`,
    );
  }
  runner.queued.push({ checkout, waiter, runDeadlineMs, unqueueSent: false, answered: false });
  s.counts.queued += 1;
  s.queuedOn.add(runner);
}

/** Gives a ready runner's free slots to the oldest live waiters (up to its capacity). */
export function handWaitersTo(st: Step, runner: RunnerState): void {
  const s = st.s;
  if (s.waiters.size === 0) return; // the common case: no iterator on the hot path
  for (const waiter of s.waiters.values()) {
    if (!isActive(runner) || runner.load >= capacityOf(s, runner)) return;
    grantWaiter(st, waiter, runner);
  }
}

/** Takes `waiter` out of the queue and grants it `runner` (queued there when it is full). */
export function grantWaiter(st: Step, waiter: WaiterState, runner: RunnerState): void {
  st.s.waiters.delete(waiter.id);
  const waitedMs = st.nowMs - waiter.enqueuedAtMs;
  const runDeadlineMs = runDeadlineOf(st, waiter);
  const { id, retry, unlinked } = waiter;
  // A call given back (prefetch.ts) reported its wait with its first grant.
  const reported = waiter.givenBack !== true;
  grant(st, id, runner, waitedMs, runDeadlineMs, retry, unlinked, waiter, reported);
}

/**
 * A cold caller waited for a boot: it gets its whole timeout to run (FLAME #73). A retried call
 * keeps its original deadline.
 */
function runDeadlineOf(st: Step, waiter: WaiterState): number | null {
  if (waiter.timeoutMs === null || waiter.unboundedRun) return null;
  const retried = waiter.retry !== null && waiter.retry.attempt > 0;
  return waiter.cold && !retried ? st.nowMs + waiter.timeoutMs : waiter.callDeadlineMs;
}

/** A caller's queue bound passed: TIMEOUT, naming the last boot error if it waited for one. */
export function waiterTimedOut(st: Step, checkoutId: CheckoutId): void {
  const waiter = st.s.waiters.get(checkoutId) as WaiterState;
  st.s.waiters.delete(checkoutId);
  rejectTimedOut(st, waiter);
}

/** TIMEOUT for `waiter`, out of the queue already (or given back past its deadline). */
export function rejectTimedOut(st: Step, waiter: WaiterState): void {
  const s = st.s;
  const checkoutId = waiter.id;
  const waitedMs = st.nowMs - waiter.enqueuedAtMs;
  const error: CoreError = {
    code: "TIMEOUT",
    message: waiter.cold
      ? s.lastBootError === null
        ? `Timed out after waiting ${waitedMs} ms for a runner to boot; raise \`timeout\` or \`bootTimeout\`, or \`max\`.`
        : `Timed out after waiting ${waitedMs} ms for a runner: the last boot failed: ${s.lastBootError}`
      : `Pool "${s.config.name}": no runner slot freed up within the call's timeout (${waiter.timeoutMs ?? waitedMs} ms); every runner is busy and the pool is at max. Raise \`timeout\`, \`max\` or \`maxConcurrency\`.`,
  };
  emit(st, { type: "reject", checkoutId, error });
  telemetry(st, { type: "timeout", checkoutId, waitedMs });
}

/**
 * The backstop: the runner did not answer by the run deadline plus the grace. The caller fails
 * TIMEOUT now; the slot stays held until the work stops (the host checks it in) or the runner
 * goes down, so the runner never runs more than maxConcurrency functions.
 */
export function backstopPassed(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const checkout = s.checkouts.get(checkoutId);
  if (checkout === undefined) return;
  checkout.backstopAtMs = null;
  // Its caller is answered now: a runner loss later must not run the call again.
  checkout.retry = null;
  queuedCallAnswered(s, checkout);
  emit(st, {
    type: "failCheckout",
    checkoutId,
    answeredEarly: true,
    error: backstopError(s, checkout.runnerId),
  });
}

/** What a caller whose runner never answered by its deadline plus the grace is told. */
export function backstopError(s: PoolState, runnerId: string): CoreError {
  return {
    code: "TIMEOUT",
    message: `Runner ${runnerId} did not answer within ${s.config.deadlineGraceMs} ms after the call's deadline (link.deadlineGrace); the call was cancelled.`,
  };
}

/** Rejects every waiter with `error` (stop, a permanent boot failure, a spent budget). */
export function rejectWaiters(st: Step, error: CoreError, only?: (cold: boolean) => boolean): void {
  for (const waiter of st.s.waiters.values()) {
    if (only !== undefined && !only(waiter.cold)) continue;
    st.s.waiters.delete(waiter.id);
    emit(st, { type: "reject", checkoutId: waiter.id, error });
  }
}

// ---- booting: demand, the retry debounce, the budget ----------------------------------------

/** Whether boots may start now: not stopped, no retry debouncing, no permanent failure. */
function bootsAllowed(s: PoolState): boolean {
  return !s.stopped && s.retryAtMs === null && s.bootsBlockedBy === null;
}

/**
 * Boots for queued callers: while the pool is under `max` and the boots already in flight
 * cannot absorb the queue (`pending × slots < waiting`). Calls held queued on busy runners
 * (prefetch.ts) count: a runner that comes up takes them back.
 */
export function bootForDemand(st: Step): void {
  const s = st.s;
  for (;;) {
    const demand = s.waiters.size + queuedDemand(s);
    const room =
      bootsAllowed(s) &&
      demand > 0 &&
      runnerCount(s) < s.limits.max &&
      s.pendingBoots.size * slotsPerRunner(s) < demand;
    if (!room) return;
    if (!boot(st, false)) return;
  }
}

/** Starts a boot unless the budget is spent; false (and budget telemetry) when refused. */
function boot(st: Step, isMin: boolean): boolean {
  const s = st.s;
  const budget = s.config.budget;
  if (budget !== null) {
    st.spentMs ??= s.ledger?.spentMs(st.nowMs) ?? 0;
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
  armBootDeadline(s, bootId, deadlineMs);
  s.ledger?.open(runnerId, st.nowMs);
  emit(st, { type: "boot", bootId, runnerId, isMin, deadlineMs });
  telemetry(st, { type: "growStart", bootId, runnerId, count: runnerCount(s), isMin });
  return true;
}

/**
 * The budget refused a boot this step and nothing running or booting will ever take the
 * waiting callers: they fail BUDGET_EXHAUSTED now.
 */
export function failUnservableByBudget(st: Step): void {
  const s = st.s;
  if (!st.budgetRefused || s.waiters.size === 0) return;
  if (s.counts.active > 0 || s.pendingBoots.size > 0) return;
  const budget = s.config.budget;
  rejectWaiters(st, {
    code: "BUDGET_EXHAUSTED",
    message: `Pool "${s.config.name}" spent its runner-time budget (${budget?.runnerMs} ms per ${budget?.windowMs} ms) and no running runner can take the call; raise \`budget.runnerMs\` or retry later.`,
  });
}

/** Debounced like FLAME's async_boot_debounce, so a broken backend is not hammered. */
export function scheduleRetry(st: Step): void {
  const s = st.s;
  if (s.stopped || s.retryAtMs !== null) return;
  const needMin = s.limits.min > 0 && s.counts.min < s.limits.min && s.draining === null;
  const needDemand = s.waiters.size > 0 || queuedDemand(s) > 0;
  const needBuffer = s.limits.buffer > 0 && s.draining === null;
  if (needMin || needDemand || needBuffer) s.retryAtMs = st.nowMs + s.config.bootRetryDelayMs;
}

/** The debounce passed: boot for what is still missing. */
export function retryBoots(st: Step): void {
  ensureMin(st);
  bootForDemand(st);
}

// ---- min -------------------------------------------------------------------------------------

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

// ---- buffer ----------------------------------------------------------------------------------

/** Idle ready runners plus boots nobody waits for: what `buffer` counts. O(1). */
function spareRunners(s: PoolState): number {
  const absorbed = Math.ceil(s.waiters.size / slotsPerRunner(s));
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

/**
 * An idle runner whose idle deadline passed is kept ready for `buffer` while idle runners
 * number no more than it (with no timer, so a pool at rest has no deadline left).
 */
function keptForBuffer(s: PoolState, runner: RunnerState): boolean {
  if (s.free.countAt(0) > s.limits.buffer || s.draining !== null) return false;
  s.bufferKept.add(runner.id);
  return true;
}

/** Idle runners beyond `buffer` must be able to idle out: re-arm as many kept ones as needed. */
export function rearmBufferKept(st: Step): void {
  const s = st.s;
  if (s.bufferKept.size === 0) return;
  let excess = s.free.countAt(0) - s.limits.buffer;
  for (const runnerId of s.bufferKept) {
    if (excess <= 0) return;
    s.bufferKept.delete(runnerId);
    const runner = s.runners.get(runnerId);
    if (runner !== undefined) armIdle(st, runner);
    excess -= 1;
  }
}

// ---- idle shutdown ---------------------------------------------------------------------------

/** Arms the idle deadline of a runner that just became idle (min runners by their own bound). */
export function armIdle(st: Step, runner: RunnerState): void {
  const s = st.s;
  if (s.bufferKept.size > 0) s.bufferKept.delete(runner.id);
  const afterMs = runner.isMin ? s.config.minIdleShutdownAfterMs : s.config.idleShutdownAfterMs;
  const armed = afterMs !== null && runner.life.phase === "ready" && !s.stopped;
  armIdleDeadline(s, runner, armed ? st.nowMs + afterMs : null);
}

/** Idle long enough: kept for the buffer, or asked (the user's idle check) or told to leave. */
export function idleDeadlinePassed(st: Step, runner: RunnerState): void {
  const s = st.s;
  armIdleDeadline(s, runner, null);
  if (runner.load > 0 || keptForBuffer(s, runner)) return;
  if (s.config.hasIdleCheck) {
    moveRunner(s, runner, { phase: "idleCheck" });
    emit(st, { type: "checkIdle", runnerId: runner.id });
  } else {
    drain(st, runner, "idle", true);
  }
}

/**
 * The user's idle check answered; a grant meanwhile (back to ready) made the answer stale, and
 * so did a promotion to min meanwhile when min runners never idle out (it would leave for good:
 * a min runner gone idle is not replaced).
 */
export function idleChecked(st: Step, runner: RunnerState, shutdown: boolean): void {
  const s = st.s;
  if (runner.life.phase !== "idleCheck") return;
  moveRunner(s, runner, { phase: "ready" });
  const idlesOut = !runner.isMin || s.config.minIdleShutdownAfterMs !== null;
  if (shutdown && runner.load === 0 && idlesOut) drain(st, runner, "idle", true);
  else armIdle(st, runner);
}
