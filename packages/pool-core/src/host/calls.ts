/**
 * One call's life, from `pool.call` (or cast, or placeChild) to its outcome: a `Checkout`
 * record asks the core for a slot, is granted (with the run deadline the core chose) or
 * rejected, runs on its runner through the link, and settles its caller once. The slot goes
 * back to the core (`checkin`) in `#release` once the work really stopped on the runner
 * (which can be after the caller was answered); `callFinished` and the call span end here.
 * Deadlines are the core's: no timer in this file.
 */
import type { CoreError, CoreEvent } from "../core/index.js";
import { FlameError, isFlameError } from "../errors.js";
import type { Clock } from "../options/index.js";
import type { PoolEventBody } from "../telemetry/events.js";
import { startCallSpan } from "../telemetry/spans.js";
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
  readonly connection: (runnerId: string) => LinkConnection | undefined;
  /** The link of `runnerId` turned out closed before its exit was reported: report it now. */
  readonly runnerGone: (runnerId: string) => void;
  readonly emit: (body: PoolEventBody) => void;
}

export class Calls {
  readonly #d: CallsDeps;
  readonly #checkouts = new Map<string, Checkout>();
  #nextId = 0;
  readonly #owner: CheckoutOwner = {
    settle: (c, ok, valueOrError, stillRunning) => this.#settle(c, ok, valueOrError, stillRunning),
    released: (c) => this.#released(c),
    abortWaiting: (c) => this.#abortWaiting(c),
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
    fnId: string,
    input: unknown,
    timeoutMs: number | null,
    signal: AbortSignal | undefined,
    onValue: Settle,
    onError: (error: FlameError) => void,
  ): void {
    const nowMs = this.#d.clock.nowMs();
    const c = new Checkout(
      this.#owner,
      String(++this.#nextId),
      kind,
      fnId,
      input,
      timeoutMs,
      signal,
      startCallSpan(this.#d.pool, fnId, kind),
      nowMs,
      onValue,
      onError,
    );
    if (signal?.aborted) {
      this.#failWaiting(c, abortedError());
      return;
    }
    this.#checkouts.set(c.id, c);
    signal?.addEventListener("abort", c, { once: true });
    this.#d.dispatch({ type: "checkout", checkoutId: c.id, timeoutMs }, nowMs);
  }

  /** The core's `grant`: start the work on its runner with the run deadline it chose. */
  grant(checkoutId: string, runnerId: string, runDeadlineMs: number | null): void {
    const c = this.#checkouts.get(checkoutId);
    // Caller already gone: its queued `callerGone` releases the slot.
    if (c === undefined || c.phase !== "waiting") return;
    const conn = this.#d.connection(runnerId);
    if (conn === undefined) {
      this.#requeue(c, runnerId);
      return;
    }
    c.phase = "granted";
    c.signal?.removeEventListener("abort", c);
    c.runnerId = runnerId;
    c.grantedAtMs = this.#d.batchNowMs();
    c.span.setRunner(runnerId);
    c.sending = true;
    this.#startWork(c, conn, runDeadlineMs);
    c.sending = false;
    if (c.refusedAsGone) {
      c.refusedAsGone = false;
      this.#requeue(c, runnerId);
    }
  }

  /**
   * The grant landed on a runner whose link closed before its exit reached the core (a known
   * race: the link fails its calls first, then reports the close). Nothing was sent, so the
   * caller does not fail: the runner is reported gone (the core then drops this checkout with
   * it, see `failGranted`) and the caller asks again with what is left of its timeout.
   */
  #requeue(c: Checkout, runnerId: string): void {
    c.phase = "waiting";
    c.runnerId = null;
    c.signal?.addEventListener("abort", c, { once: true });
    const nowMs = this.#d.batchNowMs();
    this.#d.runnerGone(runnerId);
    const timeoutMs = c.timeoutMs === null ? null : c.timeoutMs - (nowMs - c.startedAtMs);
    this.#d.dispatch({ type: "checkout", checkoutId: c.id, timeoutMs }, nowMs);
  }

  /** The core's `reject`: the caller never got a slot (timeout, overload, budget, stop, boot). */
  reject(checkoutId: string, error: CoreError): void {
    const c = this.#checkouts.get(checkoutId);
    if (c !== undefined) this.#failWaiting(c, coreError(error));
  }

  /** The core's `failCheckout`: the runner died; the core already took the slot back. */
  failGranted(checkoutId: string, error: CoreError): void {
    const c = this.#checkouts.get(checkoutId);
    // Unknown, or requeued after a refused grant: it waits for a slot again.
    if (c === undefined || c.phase === "waiting") return;
    this.#checkouts.delete(c.id);
    // Answered early and still running when its runner died: the caller already has its answer.
    if (c.phase === "answered") c.phase = "done";
    else this.#settle(c, false, coreError(error), false);
  }

  /** Sends the granted work to its runner; the outcome comes back through `#settle`. */
  #startWork(c: Checkout, conn: LinkConnection, deadlineMs: number | null): void {
    const traceparent = c.span.traceparent;
    switch (c.kind) {
      case "call": {
        // The wire carries what is left, never an instant: the runner's clock is not ours.
        const timeoutMs =
          deadlineMs === null ? null : Math.max(0, deadlineMs - this.#d.batchNowMs());
        conn.request("call", c.fnId, c.input, { timeoutMs, signal: c.signal, traceparent }, c);
        return;
      }
      case "cast":
        conn.request("cast", c.fnId, c.input, withoutDeadline(traceparent), c);
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
    c.requestId = conn.request("child", c.fnId, c.input, withoutDeadline(c.span.traceparent), c);
    const stopChild = (): void => {
      if (c.requestId !== null && c.phase === "granted") conn.stopChild(c.requestId);
    };
    const signal = c.signal;
    if (signal !== undefined) {
      signal.addEventListener("abort", stopChild, { once: true });
      void settled.then(() => signal.removeEventListener("abort", stopChild));
    }
    placed({
      runnerId: conn.runnerId,
      result,
      stop: async () => {
        stopChild();
        await settled;
      },
    } satisfies PlacedChild<unknown>);
  }

  /**
   * The one place granted work ends for its caller: ends the span, reports `callFinished`,
   * settles the caller, and gives the slot back — now, or (`stillRunning`: a call answered
   * TIMEOUT or ABORTED while its function still runs) once the runner reports it stopped, so
   * a runner never runs more than maxConcurrency functions.
   */
  #settle(c: Checkout, ok: boolean, valueOrError: unknown, stillRunning: boolean): void {
    if (c.phase === "waiting") {
      this.#failWaiting(c, asFlameError(valueOrError));
      return;
    }
    if (c.phase !== "granted") return;
    if (c.sending && !ok && isFlameError(valueOrError, "RUNNER_DOWN")) {
      c.refusedAsGone = true; // refused before sending: `grant` asks for another slot
      return;
    }
    const error = ok ? null : asFlameError(valueOrError);
    const errorCode = error?.code;
    const nowMs = this.#d.clock.nowMs();
    c.checkinReason =
      errorCode === undefined ? "done" : errorCode === "TIMEOUT" ? "timeout" : "error";
    if (stillRunning && this.#checkouts.has(c.id)) {
      c.phase = "answered";
    } else {
      c.phase = "done";
      this.#release(c, nowMs);
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
    if (error === null) c.onValue(valueOrError);
    else c.onError(error);
  }

  /** Work answered early (TIMEOUT, ABORTED) has really stopped: its slot is free. */
  #released(c: Checkout): void {
    if (c.phase !== "answered") return;
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
    c.onError(error);
  }

  #abortWaiting(c: Checkout): void {
    if (c.phase !== "waiting" || !this.#checkouts.has(c.id)) return;
    this.#failWaiting(c, abortedError());
    this.#d.dispatch({ type: "callerGone", checkoutId: c.id });
  }
}

const ignore = (): void => {};

/** Casts and children have no deadline and no signal on the wire. */
function withoutDeadline(traceparent: string | undefined): RequestOptions {
  return { timeoutMs: null, signal: undefined, traceparent };
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

function abortedError(): FlameError {
  return new FlameError("ABORTED", "The call was aborted by its signal.");
}
