/**
 * One caller's request for a slot and, once granted, its work on the runner: the record the
 * host keeps from `pool.call` (or cast, or placeChild) until the outcome is reported.
 *
 * It is the link's `Reply` and the caller's abort listener itself, so a call costs one promise
 * (the caller's) and no closures: the host settles everything in one place (`CheckoutOwner`).
 */
import { randomUUID } from "node:crypto";
import type { FlameError } from "../errors.js";
import type { CallSpan } from "../telemetry/spans.js";
import type { WorkSettings } from "./arguments.js";
import type { Reply, WorkKind } from "./link-port.js";

/** The pool's side, one object per pool. */
export interface CheckoutOwner {
  /**
   * The runner answered (ok) or failed. With `answeredEarly` the caller is answered but the
   * slot stays taken until `ended`.
   */
  settle(
    c: Checkout,
    ok: boolean,
    valueOrError: unknown,
    answeredEarly: boolean,
    tracked: boolean,
  ): void;
  /** Work answered early has stopped on the runner. */
  ended(c: Checkout): void;
  /** The runner gave the work back unstarted (the core's `unqueue`): it never ran there. */
  unqueued(c: Checkout): void;
  /** The caller's signal aborted (while waiting for a slot, or while its call runs). */
  aborted(c: Checkout): void;
}

/**
 * - `waiting`: asked the core for a slot (again, after its runner gave it back unstarted).
 * - `granted`: its work runs on `runnerId`.
 * - `answeredEarly`: the caller has its outcome (TIMEOUT, ABORTED), the slot stays held until
 *   the work stops on the runner.
 * - `holding`: answered with tracked resources (the core's `convertToTracked`): the caller has
 *   its handles, the slot stays held until every one is released (the pool's TrackedBook).
 * - `done`: over; the slot went back to the core (or the core took it back).
 */
export type CheckoutPhase = "waiting" | "granted" | "answeredEarly" | "holding" | "done";

export class Checkout implements Reply {
  phase: CheckoutPhase = "waiting";
  runnerId: string | null = null;
  grantedAtMs = 0;
  /** The request's id on its runner (to cancel or unqueue a call, to stop a child). */
  requestId: number | null = null;
  /** How the checkout ends for the core, fixed when the caller is answered. */
  checkinReason: "done" | "timeout" | "error" = "done";
  /** Retries after a runner loss so far; a lost runner's late answer is for an old attempt. */
  attempt = 0;
  /**
   * `link: false` and its caller gave up: the caller has its answer (ABORTED); the work goes
   * on and its outcome is dropped (still reported as `callFinished`).
   */
  detached = false;
  readonly fnId: string;
  /** The caller's timeout (queue + run), null = none. */
  readonly timeoutMs: number | null;
  readonly signal: AbortSignal | undefined;
  /** Whether the core may retry it after a runner loss (a call with a `retry` option). */
  readonly retryable: boolean;
  /** FLAME's `link` (default true): whether the caller's signal stops the work. */
  readonly linked: boolean;
  /**
   * ctx.idempotencyKey on every attempt: the caller's, or one made here once per call that may
   * be retried. Otherwise none travels (no string per call on the hot path) and the runner
   * makes a unique one: with no retry there is no second attempt to match.
   */
  readonly idempotencyKey: string | undefined;
  /** Pinned to a holder (`{ on: handle }`): the group its resources have on their link. */
  pinGroup: number | undefined = undefined;
  /** Pinned: which of the group's values is the call's `ctx.resource`. */
  pinIndex = 0;

  constructor(
    private readonly owner: CheckoutOwner,
    readonly id: string,
    readonly kind: WorkKind,
    work: WorkSettings,
    /** Kept while the checkout lives: a retried or given-back call is sent again with it. */
    readonly input: unknown,
    readonly span: CallSpan,
    readonly startedAtMs: number,
    /** Where the outcome goes (a placed child swaps these for its `result` at grant). */
    public onValue: (value: unknown) => void,
    public onError: (error: FlameError) => void,
  ) {
    this.fnId = work.fnId;
    this.timeoutMs = work.timeoutMs;
    this.signal = work.signal;
    // Only a call is retried: a cast or a child has no caller waiting on its run.
    this.retryable = work.retry !== null && kind === "call";
    this.linked = work.linked;
    this.idempotencyKey = work.idempotencyKey ?? (this.retryable ? randomUUID() : undefined);
  }

  /** The link's reply for the first attempt (a retry sends `AttemptReply`). */
  resolve(value: unknown, tracked = false): void {
    if (this.attempt === 0) this.owner.settle(this, true, value, false, tracked);
  }

  reject(error: unknown, answeredEarly: boolean): void {
    if (this.attempt === 0) this.owner.settle(this, false, error, answeredEarly, false);
  }

  ended(): void {
    if (this.attempt === 0) this.owner.ended(this);
  }

  unqueued(): void {
    if (this.attempt === 0) this.owner.unqueued(this);
  }

  /** Where the link answers attempt `attempt` (the first one is the checkout itself). */
  replyFor(): Reply {
    return this.attempt === 0 ? this : new AttemptReply(this.owner, this, this.attempt);
  }

  /** AbortSignal listener. */
  handleEvent(): void {
    this.owner.aborted(this);
  }
}

/**
 * The reply of a retried attempt: answers only while that attempt is the checkout's current
 * one, so a lost runner's last frames (read after its exit was reported) never settle a retry.
 */
class AttemptReply implements Reply {
  constructor(
    private readonly owner: CheckoutOwner,
    private readonly c: Checkout,
    private readonly attempt: number,
  ) {}

  resolve(value: unknown, tracked = false): void {
    if (this.c.attempt === this.attempt) this.owner.settle(this.c, true, value, false, tracked);
  }

  reject(error: unknown, answeredEarly: boolean): void {
    if (this.c.attempt === this.attempt)
      this.owner.settle(this.c, false, error, answeredEarly, false);
  }

  ended(): void {
    if (this.c.attempt === this.attempt) this.owner.ended(this.c);
  }

  unqueued(): void {
    if (this.c.attempt === this.attempt) this.owner.unqueued(this.c);
  }
}
