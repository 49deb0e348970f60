/**
 * One call's life, from `pool.call` (or cast, or placeChild) to its outcome: a `Checkout`
 * record asks the core for a slot, is granted (with the run deadline the core chose) or
 * rejected, runs on its runner through the link, and settles its caller once (`#answer`). The
 * slot goes back to the core (`checkin`) once the work really stopped on the runner, which can
 * be after the caller was answered (`answeredEarly`: an abort, the runner's own TIMEOUT, or the
 * core's backstop). When a runner goes down the core fails its callers (`failCheckout`); the
 * link passes no verdict. A call granted to a runner that holds it queued may be asked back
 * (the core's `unqueue`): given back unstarted, it waits again until the core grants it anew.
 * Deadlines are the core's: no timer in this file.
 */
import type { CoreError, CoreEvent } from "../core/index.js";
import type { FlameError } from "../errors.js";
import type { Clock, LogFn } from "../options/index.js";
import type { PoolEventBody } from "../telemetry/events.js";
import { startCallSpan } from "../telemetry/spans.js";
import type { TrackedBook } from "../tracked/book.js";
import type { WorkSettings } from "./arguments.js";
import { Checkout, type CheckoutOwner } from "./checkout.js";
import type { LinkConnection, WorkKind } from "./link-port.js";
import {
  abortedError,
  abortedWaiting,
  asFlameError,
  coreError,
  pinOption,
  poolClosing,
  resourceGone,
} from "./outcomes.js";
import { sendWork } from "./send-work.js";

export type { PlacedChild } from "./placed-child.js";

const ignore = (): void => {};

export type Settle = (value: unknown) => void;

export interface CallsDeps {
  readonly pool: string;
  readonly clock: Clock;
  readonly dispatch: (event: CoreEvent, nowMs?: number) => void;
  /** The clock reading of the batch in progress (grants happen inside one). */
  readonly batchNowMs: () => number;
  /** The link of a runner that is up; undefined once its close or exit was reported. */
  readonly connection: (runnerId: string) => LinkConnection | undefined;
  readonly emit: (body: PoolEventBody) => void;
  readonly log: LogFn;
  /** The pool's tracked resources: holders made here, pinned calls resolved there. */
  readonly tracked: TrackedBook;
}

export class Calls {
  readonly #d: CallsDeps;
  readonly #checkouts = new Map<string, Checkout>();
  #nextId = 0;
  readonly #owner: CheckoutOwner = {
    settle: (c, ok, valueOrError, answeredEarly, tracked) =>
      this.#settle(c, ok, valueOrError, answeredEarly, tracked),
    ended: (c) => c.phase === "answeredEarly" && this.#ended(c),
    unqueued: (c) => this.#unqueued(c),
    aborted: (c) => this.#aborted(c),
  };

  constructor(deps: CallsDeps) {
    this.#d = deps;
  }

  /**
   * Asks for a slot. The call's span starts here so it covers the wait. When a runner has a
   * free slot the core grants it within this dispatch and the request is on its way before
   * `call` returns.
   */
  checkout(
    kind: WorkKind,
    input: unknown,
    work: WorkSettings,
    onValue: Settle,
    onError: (error: FlameError) => void,
  ): void {
    const pin = pinOption(kind, work.on, this.#d.tracked);
    const nowMs = this.#d.clock.nowMs();
    const span = startCallSpan(this.#d.pool, work.fnId, kind);
    const id = String(++this.#nextId);
    const c = new Checkout(this.#owner, id, kind, work, input, span, nowMs, onValue, onError);
    // A caller gone before it asked hands nothing over, linked or not.
    if (c.signal?.aborted) {
      this.#failWaiting(c, abortedWaiting());
      return;
    }
    // Released (or lost) already: the handle says so without asking the core.
    if (pin === "gone" || pin === "closing") {
      this.#failWaiting(c, pin === "gone" ? resourceGone(c.fnId) : poolClosing(this.#d.pool));
      return;
    }
    c.pinGroup = pin?.group;
    c.pinIndex = pin?.index ?? 0;
    this.#checkouts.set(c.id, c);
    c.signal?.addEventListener("abort", c, { once: true });
    const timeoutMs = c.timeoutMs;
    this.#d.dispatch(
      {
        type: "checkout",
        checkoutId: c.id,
        timeoutMs,
        ...(kind === "call" ? {} : { unboundedRun: true as const }),
        ...(c.retryable && work.retry !== null ? { retry: work.retry } : {}),
        ...(c.linked ? {} : { unlinked: true as const }),
        ...(pin === null ? {} : { on: pin.holderCheckoutId }),
      },
      nowMs,
    );
  }

  /** The book: every resource of holder `checkoutId` is gone, so its slot goes back. */
  holderDone(checkoutId: string): void {
    const c = this.#checkouts.get(checkoutId);
    if (c?.phase === "holding") this.#ended(c);
  }

  /**
   * The core's `grant`: start the work on its runner with the run deadline it chose. A runner
   * whose link just closed has its `runnerDown` queued behind this batch: nothing is sent, and
   * the core fails the caller (`failCheckout`) when it hears of it.
   */
  grant(checkoutId: string, runnerId: string, runDeadlineMs: number | null): void {
    const c = this.#checkouts.get(checkoutId);
    // Caller already gone: its queued `callerGone` releases the slot.
    if (c === undefined || c.phase !== "waiting") return;
    c.phase = "granted";
    // A call's signal still cancels it on the runner; a child's stops it (see #startChild).
    if (c.kind !== "call") c.signal?.removeEventListener("abort", c);
    c.runnerId = runnerId;
    c.grantedAtMs = this.#d.batchNowMs();
    c.span.setRunner(runnerId);
    const conn = this.#d.connection(runnerId);
    if (conn === undefined) return;
    sendWork(c, conn, runDeadlineMs, this.#d.batchNowMs(), (event) => this.#d.dispatch(event));
  }

  /** The core's `reject`: the caller never got a slot (timeout, overload, budget, stop, boot). */
  reject(checkoutId: string, error: CoreError): void {
    const c = this.#checkouts.get(checkoutId);
    if (c !== undefined) this.#failWaiting(c, coreError(error));
  }

  /**
   * The core's `failCheckout`: the runner died (the core took the slot back), or
   * (`answeredEarly`) the runner did not answer by the deadline plus the grace: the caller
   * fails now, the runner is told to cancel, and the slot is checked in once the work stopped.
   */
  failGranted(checkoutId: string, error: CoreError, answeredEarly: boolean): void {
    const c = this.#checkouts.get(checkoutId);
    if (c === undefined) return;
    if (answeredEarly) {
      if (c.phase === "granted") this.#giveUp(c, coreError(error));
      return;
    }
    if (c.phase === "holding") {
      // A holder's runner is gone: so are its resources; the caller was answered long ago.
      this.#checkouts.delete(c.id);
      c.phase = "done";
      this.#d.tracked.holderLost(c.id);
      return;
    }
    this.#checkouts.delete(c.id);
    // Answered early and still running when its runner died: the caller already has its answer.
    if (c.phase === "answeredEarly") c.phase = "done";
    else if (c.phase === "granted") this.#answer(c, coreError(error), undefined, "coreTookIt");
  }

  /**
   * The core's `retryCheckout`: the call's runner died and its `retry` option runs it again.
   * The caller keeps waiting (its signal still cancels it); the core queues it again after the
   * backoff and grants it like any waiter. A caller answered meanwhile (the core had not heard
   * yet) is withdrawn instead: its runner did answer, so it never runs twice.
   */
  retry(checkoutId: string, attempt: number, error: CoreError, retryAtMs: number): void {
    const c = this.#checkouts.get(checkoutId);
    if (c === undefined || c.phase === "holding") return;
    if (c.phase !== "granted") {
      if (c.phase === "answeredEarly") c.phase = "done";
      this.#checkouts.delete(c.id);
      this.#d.dispatch({ type: "callerGone", checkoutId });
      return;
    }
    const lost = c.runnerId;
    this.#waitAgain(c);
    c.attempt = attempt;
    this.#d.emit({
      type: "callRetry",
      checkoutId,
      fn: c.fnId,
      runnerId: lost,
      attempt,
      reason: error.message.slice(0, 300),
      backoffMs: Math.max(0, retryAtMs - this.#d.batchNowMs()),
    });
  }

  /**
   * The core's `unqueue`: a slot freed on another runner, so the call it granted `runnerId`
   * queued (behind that runner's running work) is asked back. The runner gives it back
   * (`#unqueued`) if it had not started it; otherwise its answer comes as usual. Nothing to ask
   * once the work is answered, granted elsewhere, or a placed child (its caller holds a handle
   * naming this runner).
   */
  unqueue(checkoutId: string, runnerId: string): void {
    const c = this.#checkouts.get(checkoutId);
    if (c === undefined || c.phase !== "granted" || c.kind === "child") return;
    if (c.runnerId !== runnerId || c.requestId === null) return;
    this.#d.connection(runnerId)?.unqueue(c.requestId);
  }

  /**
   * The runner gave the work back unstarted. A caller still waiting on it waits again, as it
   * did before its grant: same attempt, same idempotency key, no `callRetry` (nothing ran),
   * and the core places it again (`unqueued`); the next `grant` sends it anew. Work whose
   * caller was answered meanwhile (aborted, timed out) has stopped: its slot goes back.
   */
  #unqueued(c: Checkout): void {
    if (c.phase === "answeredEarly") {
      this.#ended(c);
      return;
    }
    if (c.phase !== "granted") return;
    this.#waitAgain(c);
    this.#d.dispatch({ type: "unqueued", checkoutId: c.id });
  }

  /** A granted checkout waits for a grant again (a retry, or given back): no runner, no request. */
  #waitAgain(c: Checkout): void {
    c.phase = "waiting";
    c.runnerId = null;
    c.requestId = null;
  }

  /** The link's answer (or refusal) for granted work. */
  #settle(
    c: Checkout,
    ok: boolean,
    valueOrError: unknown,
    answeredEarly: boolean,
    tracked: boolean,
  ): void {
    if (c.phase === "answeredEarly") {
      // The caller was answered already; a final answer says the work stopped. Resources it
      // carries reach nobody: released at once, the slot held until they are disposed.
      if (answeredEarly) return;
      if (ok && tracked) this.#hold(c, valueOrError, false);
      if (c.phase === "answeredEarly") this.#ended(c);
      return;
    }
    if (c.phase !== "granted") return;
    if (ok && tracked) {
      const held = this.#hold(c, valueOrError, !c.detached);
      if (held !== null) {
        // A pinned call took no slot of its own to keep (#hold released its values).
        this.#answer(c, null, held.value, c.pinGroup === undefined ? "keep" : "release");
        return;
      }
    }
    const error = ok ? null : asFlameError(valueOrError);
    this.#answer(c, error, valueOrError, answeredEarly ? "hold" : "release");
  }

  /**
   * A call answered with tracked resources: handles in place of its references, and the
   * checkout becomes their holder (the core's `convertToTracked`: its slot stays held). `keep`
   * false (nobody will get the handles) releases them at once. A pinned call takes no slot of
   * its own, so what it tracked is released at once too (its caller gets released handles).
   * Null when the value carries none of this call's references: nothing is held.
   */
  #hold(c: Checkout, value: unknown, keep: boolean): { value: unknown } | null {
    const { runnerId, requestId } = c;
    if (runnerId === null || requestId === null) return null;
    const call = { checkoutId: c.id, runnerId, group: requestId, fn: c.fnId };
    const pinned = c.pinGroup !== undefined;
    const held = this.#d.tracked.adopt(call, value, keep && !pinned);
    if (held === null) {
      this.#d.log("warn", `"${c.fnId}" answered tracked but carried none`, { runnerId });
      return null;
    }
    if (!pinned) {
      c.phase = "holding";
      this.#d.dispatch({ type: "convertToTracked", checkoutId: c.id });
    }
    if (!keep || pinned) this.#d.tracked.releaseAll(c.id);
    return held;
  }

  /**
   * The caller gave up on its running call, or the core's backstop did: the runner is told to
   * cancel. Work that never left this process frees its slot now; otherwise the slot is held
   * until the runner says the work stopped.
   */
  #giveUp(c: Checkout, error: FlameError): void {
    const conn = c.runnerId === null ? undefined : this.#d.connection(c.runnerId);
    const cancelled =
      conn === undefined || c.requestId === null ? "unknown" : conn.cancel(c.requestId);
    this.#answer(c, error, undefined, cancelled === "withdrawn" ? "release" : "hold");
  }

  /**
   * The one place granted work ends for its caller: ends the span, reports `callFinished`,
   * settles the caller, and gives the slot back — now (`release`), once the runner reports
   * the work stopped (`hold`: answered early, so a runner never runs more than maxConcurrency
   * functions), once its tracked resources are released (`keep`: a holder), or never
   * (`coreTookIt`: its runner is gone).
   */
  #answer(
    c: Checkout,
    error: FlameError | null,
    value: unknown,
    slot: "release" | "hold" | "keep" | "coreTookIt",
  ): void {
    const nowMs = this.#d.clock.nowMs();
    const errorCode = error?.code;
    c.signal?.removeEventListener("abort", c);
    c.checkinReason =
      errorCode === undefined ? "done" : errorCode === "TIMEOUT" ? "timeout" : "error";
    if (slot === "hold") {
      c.phase = "answeredEarly";
      // The caller has its outcome from this runner: losing the runner now is no reason to run
      // the call again.
      if (c.retryable) this.#d.dispatch({ type: "answered", checkoutId: c.id });
    } else if (slot !== "keep") {
      c.phase = "done";
      if (slot === "release") this.#release(c, nowMs);
    }
    c.span.end(error === null, errorCode);
    this.#d.emit({
      type: "callFinished",
      kind: c.kind,
      fn: c.fnId,
      runnerId: c.runnerId,
      durationMs: nowMs - c.grantedAtMs,
      ok: error === null,
      ...(error === null
        ? {}
        : { errorCode: error.code, errorMessage: error.message.slice(0, 300) }),
    });
    // Unlinked work whose caller is gone: the outcome is dropped (counted above).
    if (c.detached) return;
    if (error === null) c.onValue(value);
    else c.onError(error);
    // A holder stays recorded while its handles live: it must not keep the caller's settled
    // promise (and so the handles) reachable, or no handle could ever be garbage-collected.
    if (slot === "keep") c.onValue = c.onError = ignore;
  }

  /** Work answered early (TIMEOUT, ABORTED) has really stopped, or a holder let go: slot free. */
  #ended(c: Checkout): void {
    if (c.phase !== "answeredEarly" && c.phase !== "holding") return;
    c.phase = "done";
    this.#release(c, this.#d.clock.nowMs());
  }

  /** The slot goes back to the core (`checkin`), unless the core already took it back. */
  #release(c: Checkout, nowMs: number): void {
    if (!this.#checkouts.delete(c.id)) return;
    this.#d.dispatch({ type: "checkin", checkoutId: c.id, reason: c.checkinReason }, nowMs);
  }

  /** A caller that never reached a runner (timeout, abort, stopped pool, overload, …). */
  #failWaiting(c: Checkout, error: FlameError): void {
    if (c.phase !== "waiting") return;
    c.phase = "done";
    this.#checkouts.delete(c.id);
    c.signal?.removeEventListener("abort", c);
    c.span.end(false, error.code);
    this.#d.emit({
      type: "callFinished",
      kind: c.kind,
      fn: c.fnId,
      runnerId: null,
      durationMs: this.#d.clock.nowMs() - c.startedAtMs,
      ok: false,
      errorCode: error.code,
      errorMessage: error.message.slice(0, 300),
    });
    if (!c.detached) c.onError(error);
  }

  #aborted(c: Checkout): void {
    const signal = c.signal as AbortSignal;
    if (!c.linked) {
      this.#detach(c, signal);
      return;
    }
    if (c.phase === "granted" && c.kind === "call") {
      this.#giveUp(c, abortedError(c.fnId, signal));
      return;
    }
    if (c.phase !== "waiting" || !this.#checkouts.has(c.id)) return;
    this.#failWaiting(c, abortedWaiting());
    this.#d.dispatch({ type: "callerGone", checkoutId: c.id });
  }

  /**
   * `link: false`: the caller gave up, the work does not. The caller is answered ABORTED now;
   * the work keeps its place in the queue or its slot on the runner until it ends (or its own
   * deadline passes), and its outcome is dropped.
   */
  #detach(c: Checkout, signal: AbortSignal): void {
    if (c.detached || c.phase === "done" || c.phase === "answeredEarly") return;
    // A placed child's caller already has its handle: the child just keeps running.
    if (c.kind === "child" && c.phase === "granted") return;
    c.detached = true;
    c.onError(c.phase === "waiting" ? abortedWaiting() : abortedError(c.fnId, signal));
  }
}
