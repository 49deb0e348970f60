/**
 * One call's life, from `pool.call` (or cast, or placeChild) to its outcome: a `Checkout`
 * record asks the core for a slot, is granted (with the run deadline the core chose) or
 * rejected, runs on its runner through the link, and settles its caller once (`#answer`). The
 * slot goes back to the core (`checkin`) once the work really stopped on the runner, which can
 * be after the caller was answered (`answeredEarly`: an abort, the runner's own TIMEOUT, or the
 * core's backstop). When a runner goes down the core fails its callers (`failCheckout`); the
 * link passes no verdict. Deadlines are the core's: no timer in this file.
 */
import type { CoreError, CoreEvent } from "../core/index.js";
import { FlameError, isFlameError } from "../errors.js";
import type { Clock } from "../options/index.js";
import type { PoolEventBody } from "../telemetry/events.js";
import { startCallSpan } from "../telemetry/spans.js";
import type { WorkSettings } from "./arguments.js";
import { Checkout, type CheckoutOwner } from "./checkout.js";
import type { LinkConnection, RequestOptions, WorkKind } from "./link-port.js";

export type Settle = (value: unknown) => void;

export interface PlacedChild<O> {
  readonly runnerId: string;
  /** Settles when the child ends (its value, REMOTE_ERROR, or RUNNER_DOWN). */
  readonly result: Promise<O>;
  /** Aborts the child's ctx.signal and resolves once it has ended. */
  stop(): Promise<void>;
}

export interface CallsDeps {
  readonly pool: string;
  readonly clock: Clock;
  readonly dispatch: (event: CoreEvent, nowMs?: number) => void;
  /** The clock reading of the batch in progress (grants happen inside one). */
  readonly batchNowMs: () => number;
  /** The link of a runner that is up; undefined once its close or exit was reported. */
  readonly connection: (runnerId: string) => LinkConnection | undefined;
  readonly emit: (body: PoolEventBody) => void;
}

export class Calls {
  readonly #d: CallsDeps;
  readonly #checkouts = new Map<string, Checkout>();
  #nextId = 0;
  readonly #owner: CheckoutOwner = {
    settle: (c, ok, valueOrError, answeredEarly) =>
      this.#settle(c, ok, valueOrError, answeredEarly),
    ended: (c) => this.#ended(c),
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
    const nowMs = this.#d.clock.nowMs();
    const span = startCallSpan(this.#d.pool, work.fnId, kind);
    const id = String(++this.#nextId);
    const c = new Checkout(this.#owner, id, kind, work, input, span, nowMs, onValue, onError);
    // A caller gone before it asked hands nothing over, linked or not.
    if (c.signal?.aborted) {
      this.#failWaiting(c, abortedWaiting());
      return;
    }
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
      },
      nowMs,
    );
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
    if (conn !== undefined) this.#startWork(c, conn, runDeadlineMs);
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
    if (c === undefined) return;
    if (c.phase !== "granted") {
      if (c.phase === "answeredEarly") c.phase = "done";
      this.#checkouts.delete(c.id);
      this.#d.dispatch({ type: "callerGone", checkoutId });
      return;
    }
    const lost = c.runnerId;
    c.phase = "waiting";
    c.attempt = attempt;
    c.runnerId = null;
    c.requestId = null;
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

  /** Sends the granted work to its runner; the outcome comes back through `#settle`. */
  #startWork(c: Checkout, conn: LinkConnection, deadlineMs: number | null): void {
    const traceparent = c.span.traceparent;
    switch (c.kind) {
      case "call": {
        // The wire carries what is left, never an instant: the runner's clock is not ours.
        const timeoutMs =
          deadlineMs === null ? null : Math.max(0, deadlineMs - this.#d.batchNowMs());
        const reply = c.replyFor();
        const opts = {
          timeoutMs,
          traceparent,
          idempotencyKey: c.idempotencyKey,
          attempt: c.attempt + 1,
        };
        c.requestId = conn.request("call", c.fnId, c.input, opts, reply);
        return;
      }
      case "cast":
        c.requestId = conn.request("cast", c.fnId, c.input, withoutDeadline(c), c);
        return;
      case "child":
        this.#startChild(c, conn);
        return;
    }
  }

  /** A child resolves `placeChild` at once with a handle; its outcome settles `result`. */
  #startChild(c: Checkout, conn: LinkConnection): void {
    this.#d.dispatch({ type: "convertToChild", checkoutId: c.id, childId: c.id });
    const placed = c.onValue;
    const result = new Promise<unknown>((resolve, reject) => {
      c.onValue = resolve;
      c.onError = reject;
    });
    const settled = result.then(ignore, ignore);
    c.requestId = conn.request("child", c.fnId, c.input, withoutDeadline(c), c);
    const stopChild = (): void => {
      if (c.requestId !== null && c.phase === "granted") conn.stopChild(c.requestId);
    };
    const signal = c.signal;
    if (signal !== undefined && c.linked) {
      signal.addEventListener("abort", stopChild, { once: true });
      void settled.then(() => signal.removeEventListener("abort", stopChild));
    }
    // Unlinked and its caller gave up while it waited: the child runs on, nobody holds it.
    if (c.detached) return;
    placed({
      runnerId: conn.runnerId,
      result,
      stop: async () => {
        stopChild();
        await settled;
      },
    } satisfies PlacedChild<unknown>);
  }

  /** The link's answer (or refusal) for granted work. */
  #settle(c: Checkout, ok: boolean, valueOrError: unknown, answeredEarly: boolean): void {
    if (c.phase === "answeredEarly") {
      // The caller was answered already; a final answer says the work stopped.
      if (!answeredEarly) this.#ended(c);
      return;
    }
    if (c.phase !== "granted") return;
    const error = ok ? null : asFlameError(valueOrError);
    this.#answer(c, error, valueOrError, answeredEarly ? "hold" : "release");
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
   * functions), or never (`coreTookIt`: its runner is gone).
   */
  #answer(
    c: Checkout,
    error: FlameError | null,
    value: unknown,
    slot: "release" | "hold" | "coreTookIt",
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
    } else {
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
  }

  /** Work answered early (TIMEOUT, ABORTED) has really stopped: its slot is free. */
  #ended(c: Checkout): void {
    if (c.phase !== "answeredEarly") return;
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

const ignore = (): void => {};

/** Casts and children have no deadline on the wire, and are never retried (one attempt). */
function withoutDeadline(c: Checkout): RequestOptions {
  return { timeoutMs: null, traceparent: c.span.traceparent, idempotencyKey: c.idempotencyKey };
}

function asFlameError(error: unknown): FlameError {
  return isFlameError(error)
    ? error
    : new FlameError("RUNNER_DOWN", String(error), { cause: error });
}

function coreError(error: CoreError): FlameError {
  return new FlameError(error.code, error.message, {
    ...(error.permanent === true ? { permanent: true } : {}),
  });
}

function abortedWaiting(): FlameError {
  return new FlameError("ABORTED", "The call was aborted by its signal.");
}

function abortedError(fnId: string, signal: AbortSignal): FlameError {
  return new FlameError("ABORTED", `Call to "${fnId}" was aborted by its signal.`, {
    cause: signal.reason,
  });
}
