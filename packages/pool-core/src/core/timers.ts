/**
 * Every pool deadline, as data: callers' queue bounds, boot deadlines, shutdown kill and
 * abandon deadlines, idle timers, the boot retry and the drain bound. Each lives in state
 * (heaps with lazy deletion, or a single field); `nextDeadline` reports the earliest, and the
 * `fire…` functions run whatever is due on any event, so a late tick only delays them.
 */
import {
  armIdle,
  bootEndedInFailure,
  bootForDemand,
  drain,
  emit,
  ensureMin,
  runnerDownError,
  type Step,
  telemetry,
} from "./policy.js";
import { moveRunner, type PoolState, type RunnerState, removeRunner } from "./state.js";
import type { BootId, CheckoutId, CoreError, RunnerId } from "./types.js";

/** When the host must send the next `tick`, or null when nothing is scheduled. */
export function nextDeadline(s: PoolState): number | null {
  let next: number | null = s.retryAtMs;
  const consider = (at: number | null | undefined): void => {
    if (at !== undefined && at !== null && (next === null || at < next)) next = at;
  };
  consider(s.waiterDeadlines.peekKey());
  consider(s.idleDeadlines.peekKey());
  consider(s.bootDeadlines.peekKey());
  consider(s.exitDeadlines.peekKey());
  consider(s.draining?.untilMs);
  return next;
}

export function expireWaiters(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.waiterDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const checkoutId = s.waiterDeadlines.pop() as CheckoutId;
    const waiter = s.waiters.get(checkoutId);
    if (waiter === undefined || waiter.deadlineMs !== at) continue;
    s.waiters.delete(checkoutId);
    const waitedMs = st.nowMs - waiter.enqueuedAtMs;
    const error = waiter.cold
      ? coldTimeoutError(waitedMs, s.lastBootError)
      : warmTimeoutError(s.config.name, waiter.timeoutMs ?? waitedMs);
    emit(st, { type: "reject", checkoutId, error });
    telemetry(st, { type: "timeout", checkoutId, waitedMs });
  }
}

/** A boot that did not bring a runner up in time is given up on (and retried after the debounce). */
export function fireBootDeadlines(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.bootDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const bootId = s.bootDeadlines.pop() as BootId;
    const pending = s.pendingBoots.get(bootId);
    if (pending === undefined || pending.deadlineMs !== at) continue;
    const reason = `runner ${pending.runnerId} did not say hello within bootTimeout (${s.config.bootTimeoutMs} ms)`;
    emit(st, { type: "abortBoot", bootId, runnerId: pending.runnerId, reason });
    bootEndedInFailure(st, pending, reason, false);
    scheduleRetry(st);
  }
}

/** Debounced like FLAME's async_boot_debounce, so a broken backend is not hammered. */
export function scheduleRetry(st: Step): void {
  const s = st.s;
  if (s.stopped || s.retryAtMs !== null) return;
  const needMin = s.limits.min > 0 && s.counts.min < s.limits.min && s.draining === null;
  const needDemand = s.waiters.size > 0;
  const needBuffer = s.limits.buffer > 0 && s.draining === null;
  if (needMin || needDemand || needBuffer) s.retryAtMs = st.nowMs + s.config.bootRetryDelayMs;
}

/**
 * Runners asked to leave: at `killAtMs` the backend is told to kill one that has not exited;
 * at `abandonAtMs` (the backend never reported the exit, e.g. a hung Docker daemon) the core
 * forgets it, so stop() and the pool's accounting never wait on a backend forever.
 */
export function fireExitDeadlines(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.exitDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const runnerId = s.exitDeadlines.pop() as RunnerId;
    const runner = s.runners.get(runnerId);
    if (runner === undefined) continue;
    const life = runner.life;
    if (life.phase === "stopping" && life.killAtMs === at) {
      const abandonAtMs = st.nowMs + s.config.killGraceMs;
      moveRunner(s, runner, { phase: "killed", reason: life.reason, abandonAtMs });
      s.exitDeadlines.push(abandonAtMs, runner.id);
      const reason = `did not exit within shutdownTimeout (${s.config.shutdownTimeoutMs} ms)`;
      emit(st, { type: "killRunner", runnerId, reason });
      telemetry(st, { type: "runnerKilled", runnerId, reason, abandoned: false });
    } else if (life.phase === "killed" && life.abandonAtMs === at) {
      const reason = `no exit reported within ${s.config.killGraceMs} ms of the kill; abandoned`;
      emit(st, { type: "forgetRunner", runnerId, reason });
      telemetry(st, { type: "runnerKilled", runnerId, reason, abandoned: true });
      runnerGone(st, runner, reason);
    }
  }
}

/** Removes a runner for good, failing what it still held. */
export function runnerGone(st: Step, runner: RunnerState, reason: string): void {
  const s = st.s;
  for (const checkoutId of runner.checkouts) {
    s.checkouts.delete(checkoutId);
    emit(st, { type: "failCheckout", checkoutId, error: runnerDownError(runner.id, reason) });
  }
  runner.checkouts.clear();
  s.free.remove(runner.id, runner.load);
  s.free.forget(runner.id);
  s.ledger.close(runner.id, st.nowMs);
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

export function fireRetry(st: Step): void {
  const s = st.s;
  if (s.retryAtMs === null || s.retryAtMs > st.nowMs) return;
  s.retryAtMs = null;
  ensureMin(st);
  bootForDemand(st);
}

export function fireIdle(st: Step): void {
  const s = st.s;
  for (;;) {
    const at = s.idleDeadlines.peekKey();
    if (at === undefined || at > st.nowMs) return;
    const runnerId = s.idleDeadlines.pop() as RunnerId;
    const runner = s.runners.get(runnerId);
    if (runner === undefined || runner.idleDeadlineMs !== at) continue;
    runner.idleDeadlineMs = null;
    if (runner.life.phase !== "ready" || runner.load > 0) continue;
    // Kept ready for `buffer` (without it the idle runners would number fewer than buffer),
    // with no timer, so a pool at rest has no deadline left; `rearmBufferKept` gives it one
    // again once idle runners outnumber the buffer.
    if (s.free.countAt(0) <= s.limits.buffer && s.draining === null) {
      s.bufferKept.add(runner.id);
      continue;
    }
    if (s.config.hasIdleCheck) {
      moveRunner(s, runner, { phase: "idleCheck" });
      emit(st, { type: "checkIdle", runnerId });
    } else {
      drain(st, runner, "idle", true);
    }
  }
}

/** Pops stale heap tops so `nextDeadline` never reports a deadline that will do nothing. */
export function dropStaleDeadlines(s: PoolState): void {
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
    if (runner !== undefined && runner.idleDeadlineMs === at && runner.life.phase === "ready") {
      break;
    }
    s.idleDeadlines.pop();
  }
  for (;;) {
    const at = s.bootDeadlines.peekKey();
    if (at === undefined) break;
    const pending = s.pendingBoots.get(s.bootDeadlines.peekValue() as BootId);
    if (pending !== undefined && pending.deadlineMs === at) break;
    s.bootDeadlines.pop();
  }
  for (;;) {
    const at = s.exitDeadlines.peekKey();
    if (at === undefined) break;
    const runner = s.runners.get(s.exitDeadlines.peekValue() as RunnerId);
    const life = runner?.life;
    if (life?.phase === "stopping" && life.killAtMs === at) break;
    if (life?.phase === "killed" && life.abandonAtMs === at) break;
    s.exitDeadlines.pop();
  }
}

function warmTimeoutError(pool: string, timeoutMs: number): CoreError {
  return {
    code: "TIMEOUT",
    message: `Pool "${pool}": no runner slot freed up within the call's timeout (${timeoutMs} ms); every runner is busy and the pool is at max. Raise \`timeout\`, \`max\` or \`maxConcurrency\`.`,
  };
}

function coldTimeoutError(waitedMs: number, lastBootError: string | null): CoreError {
  return {
    code: "TIMEOUT",
    message:
      lastBootError === null
        ? `Timed out after waiting ${waitedMs} ms for a runner to boot; raise \`timeout\` or \`bootTimeout\`, or \`max\`.`
        : `Timed out after waiting ${waitedMs} ms for a runner: the last boot failed: ${lastBootError}`,
  };
}

/** Idle runners beyond `buffer` must be able to idle out: re-arm as many kept ones as needed. */
export function rearmBufferKept(st: Step): void {
  const s = st.s;
  let excess = s.free.countAt(0) - s.limits.buffer;
  for (const runnerId of s.bufferKept) {
    if (excess <= 0) return;
    s.bufferKept.delete(runnerId);
    const runner = s.runners.get(runnerId);
    if (runner !== undefined) armIdle(st, runner);
    excess -= 1;
  }
}
