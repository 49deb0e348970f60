/**
 * How a caller joins the pool: a new `checkout` (refused when stopped, draining, already timed
 * out or overloaded; granted at once when a runner has a free slot; queued otherwise), and a
 * call coming back after its runner died (opt-in `retry`): it is queued again by the same
 * rules (maxWaiting, FIFO behind those already waiting, the budget) within its original
 * deadline, after its backoff. Retries are decided here; `runnerGone` (runners.ts) asks.
 */
import { stoppedError } from "./limits.js";
import { bootForDemand, ensureMin, grant } from "./policy.js";
import { mayQueue } from "./prefetch.js";
import { type CallRetry, type CheckoutState, capacityOf, type WaiterState } from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { armCallRetry, armWaiterDeadline } from "./timers.js";
import { pinnedCheckout } from "./tracked.js";
import type { CheckoutId, CoreError, RetryPolicy } from "./types.js";

/** What a caller asks for, new or retried (see WaiterState). */
type Work = Pick<
  WaiterState,
  "timeoutMs" | "callDeadlineMs" | "unboundedRun" | "retry" | "unlinked"
>;

/**
 * A new caller wants a slot, or (`on`) to run pinned to a holder of tracked resources
 * (tracked.ts): refused alike when the pool takes no calls or the timeout already passed.
 */
export function onCheckout(
  st: Step,
  checkoutId: CheckoutId,
  timeoutMs: number | null,
  unboundedRun: boolean,
  policy: RetryPolicy | undefined,
  unlinked: boolean,
  on: CheckoutId | undefined,
): void {
  const s = st.s;
  if (
    s.checkouts.has(checkoutId) ||
    s.waiters.has(checkoutId) ||
    s.callRetries.has(checkoutId) ||
    s.pinned.has(checkoutId)
  ) {
    return;
  }
  if (s.stopped || s.draining !== null) {
    emit(st, { type: "reject", checkoutId, error: stoppedError(s) });
    return;
  }
  if (timeoutMs !== null && timeoutMs <= 0) {
    emit(st, {
      type: "reject",
      checkoutId,
      error: { code: "TIMEOUT", message: "The call's timeout had already passed." },
    });
    telemetry(st, { type: "timeout", checkoutId, waitedMs: 0 });
    return;
  }
  // Pinned calls are never retried (the host refuses `retry` with `on`; ignored here) and
  // never unlinked (refused too): their resources' loss is their failure.
  if (on !== undefined) {
    pinnedCheckout(st, checkoutId, on, timeoutMs, unboundedRun);
    return;
  }
  const callDeadlineMs = timeoutMs === null ? null : st.nowMs + timeoutMs;
  // Only a call has a run the caller waits on; a cast or a child is never retried.
  const retry: CallRetry | null =
    policy === undefined || policy.runnerDown <= 0 || unboundedRun
      ? null
      : { policy, attempt: 0, timeoutMs, callDeadlineMs };
  admit(st, checkoutId, { timeoutMs, callDeadlineMs, unboundedRun, retry, unlinked });
}

/**
 * A granted call's runner died. Returns true when the call will be retried (`retryCheckout`
 * emitted; the backoff is armed), false when its caller must fail now: no retry policy or none
 * left, its caller already answered, the pool stopped, or the backoff would end at or past the
 * call's deadline (a RUNNER_DOWN now says more than a TIMEOUT later).
 */
export function retryAfterRunnerLoss(st: Step, checkout: CheckoutState, error: CoreError): boolean {
  const s = st.s;
  const retry = checkout.retry;
  if (retry === null || s.stopped || retry.attempt >= retry.policy.runnerDown) return false;
  const atMs = st.nowMs + retry.policy.backoffMs;
  if (retry.callDeadlineMs !== null && atMs >= retry.callDeadlineMs) return false;
  const next: CallRetry = { ...retry, attempt: retry.attempt + 1 };
  s.callRetries.set(checkout.id, {
    id: checkout.id,
    atMs,
    retry: next,
    unlinked: checkout.unlinked,
  });
  armCallRetry(s, checkout.id, atMs);
  emit(st, {
    type: "retryCheckout",
    checkoutId: checkout.id,
    attempt: next.attempt,
    error,
    retryAtMs: atMs,
  });
  return true;
}

/** A call's retry backoff passed: it queues again like a caller arriving now. */
export function callRetryDue(st: Step, checkoutId: CheckoutId): void {
  const s = st.s;
  const pending = s.callRetries.get(checkoutId);
  if (pending === undefined) return;
  s.callRetries.delete(checkoutId);
  const { retry, unlinked } = pending;
  const { timeoutMs, callDeadlineMs } = retry;
  admit(st, checkoutId, { timeoutMs, callDeadlineMs, unboundedRun: false, retry, unlinked });
}

/** Rejects every call waiting out a retry backoff (the pool stops). */
export function rejectCallRetries(st: Step, error: CoreError): void {
  for (const id of st.s.callRetries.keys()) emit(st, { type: "reject", checkoutId: id, error });
  st.s.callRetries.clear();
}

/**
 * Grants now if a runner has a free slot; otherwise queues (or refuses: maxWaiting), on a
 * busy runner when prefetch allows it, else in the pool's queue.
 */
function admit(st: Step, checkoutId: CheckoutId, work: Work): void {
  const s = st.s;
  const { timeoutMs, callDeadlineMs, unboundedRun, retry, unlinked } = work;
  const runner = s.free.leastLoaded();
  const runDeadlineMs = unboundedRun ? null : callDeadlineMs;
  if (runner !== undefined && runner.load < capacityOf(s, runner)) {
    grant(st, checkoutId, runner, 0, runDeadlineMs, retry, unlinked);
    return;
  }
  const maxWaiting = s.config.maxWaiting;
  if (maxWaiting !== null && s.waiters.size >= maxWaiting) {
    emit(st, {
      type: "reject",
      checkoutId,
      error: {
        code: "OVERLOADED",
        message: `Pool "${s.config.name}" already has ${s.waiters.size} callers waiting (maxWaiting ${maxWaiting}); retry later, or raise \`max\`, \`maxConcurrency\` or \`maxWaiting\`.`,
      },
    });
    telemetry(st, { type: "overloaded", waiting: s.waiters.size, maxWaiting });
    return;
  }
  // A new caller is new demand: a boot blocked by a permanent failure may be tried again.
  if (s.bootsBlockedBy !== null) {
    s.bootsBlockedBy = null;
    ensureMin(st);
  }
  const seq = s.nextWaiterSeq++;
  const waiter: WaiterState = {
    id: checkoutId,
    timeoutMs,
    callDeadlineMs,
    deadlineMs: callDeadlineMs,
    cold: false,
    unboundedRun,
    enqueuedAtMs: st.nowMs,
    retry,
    unlinked,
    seq,
  };
  // Every runner is busy: with no caller ahead of it, it may wait queued on one (prefetch.ts).
  if (runner !== undefined && s.waiters.size === 0 && mayQueue(s, waiter)) {
    grant(st, checkoutId, runner, 0, runDeadlineMs, retry, unlinked, waiter);
    return;
  }
  s.waiters.set(checkoutId, waiter);
  bootForDemand(st);
  // Cold: a runner is booting, so this caller may wait for it up to max(timeout, bootTimeout)
  // and then run for its whole timeout (FLAME #73). Behind busy runners the plain rule holds.
  // A retried call keeps its original deadline: the retry never extends it.
  if (s.pendingBoots.size > 0) {
    const retried = retry !== null && retry.attempt > 0;
    s.waiters.set(
      checkoutId,
      timeoutMs === null || retried
        ? { ...waiter, cold: true }
        : {
            ...waiter,
            cold: true,
            deadlineMs: st.nowMs + Math.max(timeoutMs, s.config.bootTimeoutMs),
          },
    );
  }
  armWaiterDeadline(s, s.waiters.get(checkoutId) as WaiterState);
  telemetry(st, { type: "waiting", checkoutId, waiting: s.waiters.size });
}
