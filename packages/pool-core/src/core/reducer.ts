import {
  capacityOf,
  type PendingBoot,
  type PoolState,
  type RunnerState,
  runnerCount,
} from "./state.js";
import type {
  CheckoutId,
  CoreError,
  CoreTelemetryEvent,
  Effect,
  PoolEvent,
  RunnerId,
  ShutdownReason,
} from "./types.js";

/** One step's scratch: the state, the time it happens at, and the effects it produces. */
interface Step {
  readonly s: PoolState;
  readonly nowMs: number;
  readonly fx: Effect[];
}

/**
 * Applies one event. Updates `state` in place and returns it with the effects the host must
 * carry out, in order. Due timers (waiter deadlines, idle deadlines, the boot retry) fire on
 * every event, so a late or missing `tick` only delays them, and extra ticks are harmless.
 */
export function step(
  state: PoolState,
  event: PoolEvent,
  nowMs: number,
): { state: PoolState; effects: readonly Effect[] } {
  const st: Step = { s: state, nowMs, fx: [] };
  expireWaiters(st);
  switch (event.type) {
    case "start":
      onStart(st);
      break;
    case "checkout":
      onCheckout(st, event.checkoutId, event.deadlineMs);
      break;
    case "checkin":
      release(st, event.checkoutId);
      break;
    case "callerGone":
      if (!dropWaiter(st, event.checkoutId)) release(st, event.checkoutId);
      break;
    case "convertToChild": {
      const checkout = state.checkouts.get(event.checkoutId);
      if (checkout !== undefined) checkout.childId = event.childId;
      break;
    }
    case "bootSucceeded":
      onBootSucceeded(st, event.bootId, event.runnerId);
      break;
    case "bootFailed":
      onBootFailed(st, event.bootId, event.error);
      break;
    case "runnerDown":
      onRunnerDown(st, event.runnerId, event.reason);
      break;
    case "idleChecked":
      onIdleChecked(st, event.runnerId, event.shutdown);
      break;
    case "resize":
      onResize(st, event.min, event.max);
      break;
    case "drainRunner": {
      const runner = state.runners.get(event.runnerId);
      // Draining or gone already: nothing more to do.
      if (runner !== undefined && runner.phase === "ready" && !state.stopped) {
        drain(st, runner, "operator", true);
      }
      break;
    }
    case "stop":
      onStop(st);
      break;
    case "tick":
      break;
  }
  fireRetry(st);
  fireIdle(st);
  dropStaleDeadlines(state);
  return { state, effects: st.fx };
}

/** When the host must send the next `tick`, or null when nothing is scheduled. */
export function nextDeadline(state: PoolState): number | null {
  let next: number | null = state.retryAtMs;
  const waiterAt = state.waiterDeadlines.peekKey();
  if (waiterAt !== undefined && (next === null || waiterAt < next)) next = waiterAt;
  const idleAt = state.idleDeadlines.peekKey();
  if (idleAt !== undefined && (next === null || idleAt < next)) next = idleAt;
  return next;
}

// ---- events ---------------------------------------------------------------------------------

function onStart(st: Step): void {
  if (st.s.started || st.s.stopped) return;
  st.s.started = true;
  ensureMin(st);
}

function onCheckout(st: Step, checkoutId: CheckoutId, deadlineMs: number | null): void {
  const s = st.s;
  if (s.checkouts.has(checkoutId) || s.waiters.has(checkoutId)) return;
  if (s.stopped) {
    emit(st, { type: "reject", checkoutId, error: stoppedError() });
    return;
  }
  if (deadlineMs !== null && deadlineMs <= st.nowMs) {
    emit(st, { type: "reject", checkoutId, error: timeoutError(0) });
    telemetry(st, { type: "timeout", checkoutId, waitedMs: 0 });
    return;
  }
  const runnerId = s.free.leastLoaded();
  if (runnerId !== undefined) {
    grant(st, checkoutId, runnerId, 0);
    return;
  }
  const seq = s.nextWaiterSeq++;
  s.waiters.set(checkoutId, { id: checkoutId, deadlineMs, enqueuedAtMs: st.nowMs, seq });
  if (deadlineMs !== null) {
    s.waiterDeadlines.push(deadlineMs, checkoutId);
    if (s.waiterDeadlines.size > compactionThreshold(s.waiters.size)) compactWaiterDeadlines(s);
  }
  telemetry(st, { type: "waiting", checkoutId, waiting: s.waiters.size });
  bootForDemand(st);
}

/** A checkout ends (checkin, or its caller went away after the grant). */
function release(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const checkout = s.checkouts.get(checkoutId);
  if (checkout === undefined) {
    // Known race: a checkin after the caller timed out while waiting, or after runnerDown
    // already failed this checkout. Both are no-ops (FLAME raises for the second).
    dropWaiter(st, checkoutId);
    return;
  }
  s.checkouts.delete(checkoutId);
  const runner = s.runners.get(checkout.runnerId);
  if (runner === undefined) return;
  runner.checkouts.delete(checkoutId);
  setLoad(s, runner, runner.load - 1);
  runner.callsServed += 1;

  if (s.config.singleUse && runner.phase === "ready") {
    drain(st, runner, "single_use", true);
    return;
  }
  if (runner.phase === "draining") {
    if (!runner.shutdownSent && runner.load === 0) sendShutdown(st, runner);
    return;
  }
  handWaitersTo(st, runner);
  if (runner.load === 0) armIdle(st, runner);
}

function onBootSucceeded(st: Step, bootId: string, runnerId: RunnerId): void {
  const s = st.s;
  const pending = s.pendingBoots.get(bootId);
  if (pending === undefined || s.runners.has(runnerId)) {
    // A boot we no longer track (the pool stopped, or a duplicate report): the runner must
    // not be left running.
    if (!s.runners.has(runnerId)) emit(st, { type: "shutdownRunner", runnerId, reason: "stop" });
    return;
  }
  const wasSurplus = s.surplusBoots.has(bootId);
  endBoot(s, pending);
  const runner: RunnerState = {
    id: runnerId,
    isMin: pending.isMin,
    phase: "ready",
    load: 0,
    bootedAtMs: st.nowMs,
    callsServed: 0,
    checkouts: new Set(),
    used: false,
    idleDeadlineMs: null,
    idleCheckPending: false,
    leaving: null,
    shutdownSent: false,
  };
  s.runners.set(runnerId, runner);
  telemetry(st, { type: "growEnd", bootId, count: runnerCount(s), ok: true, runnerId });
  if (s.stopped) {
    drain(st, runner, "stop", true);
    return;
  }
  if (wasSurplus && readyOrPendingCount(s) > s.limits.max + s.surplusBoots.size) {
    // A boot that outlived a resize down: it arrives surplus and leaves at once.
    drain(st, runner, "resize", true);
    return;
  }
  if (!runner.isMin && s.limits.min > 0 && minRunnerCount(s) < s.limits.min) runner.isMin = true;
  setLoad(s, runner, 0);
  handWaitersTo(st, runner);
  if (runner.load === 0) armIdle(st, runner);
  bootForDemand(st);
}

function onBootFailed(st: Step, bootId: string, error: string): void {
  const s = st.s;
  const pending = s.pendingBoots.get(bootId);
  if (pending === undefined) return;
  endBoot(s, pending);
  telemetry(st, { type: "growEnd", bootId, count: runnerCount(s), ok: false, error });
  if (s.stopped) return;
  // Debounced like FLAME's async_boot_debounce, so a broken backend is not hammered.
  if ((hasUnmetDemand(s) || needsMin(s)) && s.retryAtMs === null) {
    s.retryAtMs = st.nowMs + s.config.bootRetryDelayMs;
  }
}

function onRunnerDown(st: Step, runnerId: RunnerId, reason: string): void {
  const s = st.s;
  const runner = s.runners.get(runnerId);
  if (runner === undefined) return; // already gone: a duplicate report is a known race
  for (const checkoutId of runner.checkouts) {
    s.checkouts.delete(checkoutId);
    emit(st, {
      type: "failCheckout",
      checkoutId,
      error: { code: "RUNNER_DOWN", message: `Runner ${runnerId} went down: ${reason}` },
    });
  }
  runner.checkouts.clear();
  s.free.remove(runner.id, runner.load);
  s.free.forget(runner.id);
  s.runners.delete(runnerId);
  telemetry(st, { type: "shrink", runnerId, count: runnerCount(s), reason });
  if (s.stopped) return;
  // Back up to min when below it (FLAME #60: a crash or a finished single-use runner), also
  // when min was raised while max was full and this exit frees the room. Only a min runner
  // that idled out on purpose (minIdleShutdownAfterMs) is not brought back.
  if (!(runner.isMin && runner.leaving === "idle")) ensureMin(st);
  bootForDemand(st);
}

function onIdleChecked(st: Step, runnerId: RunnerId, shutdown: boolean): void {
  const runner = st.s.runners.get(runnerId);
  if (runner === undefined || !runner.idleCheckPending) return;
  runner.idleCheckPending = false;
  if (runner.phase !== "ready" || runner.load > 0) return;
  if (shutdown) drain(st, runner, "idle", true);
  else armIdle(st, runner);
}

function onResize(st: Step, min: number, max: number): void {
  const s = st.s;
  if (s.stopped) return;
  const loweredMax = max < s.limits.max;
  s.limits.min = min;
  s.limits.max = max;
  telemetry(st, { type: "resize", min, max });
  if (loweredMax) {
    // Boots already in flight cannot be cancelled: those beyond the new max are surplus and
    // leave as soon as they come up (see onBootSucceeded).
    let overflow = readyOrPendingCount(s) - max;
    for (const bootId of s.pendingBoots.keys()) {
      if (overflow <= 0) break;
      s.surplusBoots.add(bootId);
      overflow -= 1;
    }
  }
  demoteExtraMin(st);
  ensureMin(st);
  shrinkToMax(st);
  bootForDemand(st);
}

function onStop(st: Step): void {
  const s = st.s;
  if (s.stopped) return;
  s.stopped = true;
  s.retryAtMs = null;
  for (const waiter of s.waiters.values()) {
    emit(st, { type: "reject", checkoutId: waiter.id, error: stoppedError() });
  }
  s.waiters.clear();
  for (const runner of s.runners.values()) {
    if (runner.phase === "draining" && runner.shutdownSent) continue;
    drain(st, runner, "stop", true);
  }
}

// ---- timers ---------------------------------------------------------------------------------

function expireWaiters(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.waiterDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const checkoutId = s.waiterDeadlines.pop() as CheckoutId;
    const waiter = s.waiters.get(checkoutId);
    if (waiter === undefined || waiter.deadlineMs !== at) continue;
    s.waiters.delete(checkoutId);
    const waitedMs = st.nowMs - waiter.enqueuedAtMs;
    emit(st, { type: "reject", checkoutId, error: timeoutError(waitedMs) });
    telemetry(st, { type: "timeout", checkoutId, waitedMs });
  }
}

function fireRetry(st: Step): void {
  const s = st.s;
  if (s.retryAtMs === null || s.retryAtMs > st.nowMs) return;
  s.retryAtMs = null;
  ensureMin(st);
  bootForDemand(st);
}

function fireIdle(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.idleDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const runnerId = s.idleDeadlines.pop() as RunnerId;
    const runner = s.runners.get(runnerId);
    if (runner === undefined || runner.idleDeadlineMs !== at) continue;
    runner.idleDeadlineMs = null;
    if (runner.phase !== "ready" || runner.load > 0) continue;
    if (s.config.hasIdleCheck) {
      runner.idleCheckPending = true;
      emit(st, { type: "checkIdle", runnerId });
    } else {
      drain(st, runner, "idle", true);
    }
  }
}

/** Pops stale heap tops so `nextDeadline` never reports a deadline that will do nothing. */
function dropStaleDeadlines(s: PoolState): void {
  for (;;) {
    const at = s.waiterDeadlines.peekKey();
    if (at === undefined) break;
    const waiter = s.waiters.get(s.waiterDeadlines.peekValue() as CheckoutId);
    if (waiter !== undefined && waiter.deadlineMs === at) break;
    s.waiterDeadlines.pop();
  }
  for (;;) {
    const at = s.idleDeadlines.peekKey();
    if (at === undefined) break;
    const runner = s.runners.get(s.idleDeadlines.peekValue() as RunnerId);
    if (runner !== undefined && runner.idleDeadlineMs === at) break;
    s.idleDeadlines.pop();
  }
}

// ---- policy ---------------------------------------------------------------------------------

function grant(st: Step, checkoutId: CheckoutId, runnerId: RunnerId, waitedMs: number): void {
  const s = st.s;
  const runner = s.runners.get(runnerId) as RunnerState;
  s.checkouts.set(checkoutId, { id: checkoutId, runnerId, childId: null });
  runner.checkouts.add(checkoutId);
  runner.idleDeadlineMs = null;
  runner.idleCheckPending = false;
  if (s.config.singleUse) runner.used = true;
  setLoad(s, runner, runner.load + 1);
  emit(st, { type: "grant", checkoutId, runnerId });
  telemetry(st, { type: "checkout", checkoutId, runnerId, waitedMs });
}

/** Gives a ready runner's free slots to the oldest live waiters (up to its capacity). */
function handWaitersTo(st: Step, runner: RunnerState): void {
  const s = st.s;
  for (const waiter of s.waiters.values()) {
    if (runner.phase !== "ready" || runner.load >= capacityOf(s, runner)) return;
    s.waiters.delete(waiter.id);
    grant(st, waiter.id, runner.id, st.nowMs - waiter.enqueuedAtMs);
  }
}

/**
 * Boots for queued callers: while the pool is under `max` and the boots already in flight
 * cannot absorb the queue (`pending × maxConcurrency < waiting`), and no retry is debouncing.
 */
function bootForDemand(st: Step): void {
  const s = st.s;
  while (
    !s.stopped &&
    s.retryAtMs === null &&
    s.waiters.size > 0 &&
    runnerCount(s) < s.limits.max &&
    s.pendingBoots.size * perRunnerSlots(s) < s.waiters.size
  ) {
    boot(st, false);
  }
}

/** Keeps `min` runners designated as min: promote ready runners first, then boot. */
function ensureMin(st: Step): void {
  const s = st.s;
  if (s.stopped || !s.started || s.limits.min === 0) return;
  let have = minRunnerCount(s);
  if (have >= s.limits.min) return;
  for (const runner of s.runners.values()) {
    if (have >= s.limits.min) break;
    if (runner.isMin || runner.phase !== "ready") continue;
    runner.isMin = true;
    have += 1;
    if (runner.load === 0) armIdle(st, runner);
  }
  while (have < s.limits.min && runnerCount(s) < s.limits.max && s.retryAtMs === null) {
    boot(st, true);
    have += 1;
  }
}

function demoteExtraMin(st: Step): void {
  const s = st.s;
  let extra = minRunnerCount(s) - s.limits.min;
  if (extra <= 0) return;
  for (const boot of [...s.pendingBoots.values()]) {
    if (extra <= 0) return;
    if (!boot.isMin) continue;
    s.pendingBoots.set(boot.id, { id: boot.id, isMin: false });
    extra -= 1;
  }
  for (const runner of s.runners.values()) {
    if (extra <= 0) return;
    if (!runner.isMin || runner.phase !== "ready") continue;
    runner.isMin = false;
    extra -= 1;
    if (runner.load === 0) armIdle(st, runner);
  }
}

/** After a resize down: drain idle surplus runners now, busy ones once they are idle. */
function shrinkToMax(st: Step): void {
  const s = st.s;
  let excess = readyOrPendingCount(s) - s.limits.max - s.surplusBoots.size;
  if (excess <= 0) return;
  const candidates = [...s.runners.values()]
    .filter((r) => r.phase === "ready" && !r.isMin)
    .sort((a, b) => a.load - b.load);
  for (const runner of candidates) {
    if (excess <= 0) return;
    drain(st, runner, "resize", runner.load === 0);
    excess -= 1;
  }
}

/** Stops granting to `runner`; sends its shutdown now or once its last checkout ends. */
function drain(st: Step, runner: RunnerState, reason: ShutdownReason, now: boolean): void {
  const s = st.s;
  s.free.remove(runner.id, runner.load);
  runner.phase = "draining";
  runner.leaving = reason;
  runner.idleDeadlineMs = null;
  runner.idleCheckPending = false;
  if (now || runner.load === 0) sendShutdown(st, runner);
}

function sendShutdown(st: Step, runner: RunnerState): void {
  runner.shutdownSent = true;
  emit(st, { type: "shutdownRunner", runnerId: runner.id, reason: runner.leaving ?? "stop" });
}

function boot(st: Step, isMin: boolean): void {
  const s = st.s;
  const bootId = `b${s.nextBootNumber++}`;
  s.pendingBoots.set(bootId, { id: bootId, isMin });
  emit(st, { type: "boot", bootId, isMin });
  telemetry(st, { type: "growStart", bootId, count: runnerCount(s), isMin });
}

function armIdle(st: Step, runner: RunnerState): void {
  const s = st.s;
  const afterMs = runner.isMin ? s.config.minIdleShutdownAfterMs : s.config.idleShutdownAfterMs;
  if (afterMs === null || runner.phase !== "ready" || s.stopped) {
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
function compactionThreshold(live: number): number {
  return 2 * live + 64;
}

function compactIdleDeadlines(s: PoolState): void {
  s.idleDeadlines.clear();
  for (const runner of s.runners.values()) {
    if (runner.idleDeadlineMs !== null) s.idleDeadlines.push(runner.idleDeadlineMs, runner.id);
  }
}

function compactWaiterDeadlines(s: PoolState): void {
  s.waiterDeadlines.clear();
  for (const waiter of s.waiters.values()) {
    if (waiter.deadlineMs !== null) s.waiterDeadlines.push(waiter.deadlineMs, waiter.id);
  }
}

function dropWaiter(st: Step, checkoutId: CheckoutId): boolean {
  return st.s.waiters.delete(checkoutId);
}

function endBoot(s: PoolState, pending: PendingBoot): void {
  s.pendingBoots.delete(pending.id);
  s.surplusBoots.delete(pending.id);
}

/** Moves a runner between load buckets; only ready runners with a free slot are indexed. */
function setLoad(s: PoolState, runner: RunnerState, load: number): void {
  s.free.remove(runner.id, runner.load);
  runner.load = load;
  if (runner.phase === "ready" && load < capacityOf(s, runner)) s.free.add(runner.id, load);
}

function hasUnmetDemand(s: PoolState): boolean {
  return s.waiters.size > 0 && runnerCount(s) < s.limits.max;
}

function needsMin(s: PoolState): boolean {
  return s.limits.min > 0 && minRunnerCount(s) < s.limits.min;
}

function minRunnerCount(s: PoolState): number {
  let count = 0;
  for (const runner of s.runners.values()) if (runner.isMin && runner.phase === "ready") count += 1;
  for (const boot of s.pendingBoots.values()) if (boot.isMin) count += 1;
  return count;
}

/** Runners that are not leaving, plus boots in flight. */
function readyOrPendingCount(s: PoolState): number {
  let count = s.pendingBoots.size;
  for (const runner of s.runners.values()) if (runner.phase === "ready") count += 1;
  return count;
}

function perRunnerSlots(s: PoolState): number {
  return s.config.singleUse ? 1 : s.config.maxConcurrency;
}

function emit(st: Step, effect: Effect): void {
  st.fx.push(effect);
}

function telemetry(st: Step, event: CoreTelemetryEvent): void {
  st.fx.push({ type: "telemetry", event });
}

function stoppedError(): CoreError {
  return { code: "POOL_STOPPED", message: "The pool is stopped; start a new Pool to run calls." };
}

function timeoutError(waitedMs: number): CoreError {
  return {
    code: "TIMEOUT",
    message: `Timed out after waiting ${waitedMs} ms for a free runner slot; raise \`timeout\` or \`max\`.`,
  };
}
