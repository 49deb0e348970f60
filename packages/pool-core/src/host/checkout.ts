/**
 * One caller's request for a slot and, once granted, its work on the runner: the record the
 * host keeps from `pool.call` (or cast, or placeChild) until the outcome is reported.
 *
 * It is the link's `Reply` and the caller's abort listener itself, so a call costs one promise
 * (the caller's) and no closures: the host settles everything in one place (`CheckoutOwner`).
 */
import type { FlameError } from "../errors.js";
import type { CallSpan } from "../telemetry/spans.js";
import type { Reply, WorkKind } from "./link-port.js";

/** The pool's side, one object per pool. */
export interface CheckoutOwner {
  /**
   * The runner answered (ok) or failed, or the core failed the checkout (runner down). With
   * `stillRunning` the caller is answered but the slot stays taken until `released`.
   */
  settle(c: Checkout, ok: boolean, valueOrError: unknown, stillRunning: boolean): void;
  /** Work answered early has stopped on the runner. */
  released(c: Checkout): void;
  /** The caller's signal aborted while the checkout was still waiting for a slot. */
  abortWaiting(c: Checkout): void;
}

export class Checkout implements Reply {
  /** "answered": the caller has its outcome, the runner still holds the slot until it stops. */
  phase: "waiting" | "granted" | "answered" | "done" = "waiting";
  runnerId: string | null = null;
  grantedAtMs = 0;
  /** A placed child's request id on its runner, to stop it. */
  requestId: number | null = null;
  /** True while `request` runs: a refusal then means the work was never sent. */
  sending = false;
  /** The link refused the work because its runner is already gone: ask for another slot. */
  refusedAsGone = false;
  /** How the checkout ends for the core, fixed when the caller is answered. */
  checkinReason: "done" | "timeout" | "error" = "done";

  constructor(
    private readonly owner: CheckoutOwner,
    readonly id: string,
    readonly kind: WorkKind,
    readonly fnId: string,
    readonly input: unknown,
    /** The caller's timeout (queue + run), null = none. */
    readonly timeoutMs: number | null,
    readonly signal: AbortSignal | undefined,
    readonly span: CallSpan,
    readonly startedAtMs: number,
    /** Where the outcome goes (a placed child swaps these for its `result` at grant). */
    public onValue: (value: unknown) => void,
    public onError: (error: FlameError) => void,
  ) {}

  resolve(value: unknown): void {
    this.owner.settle(this, true, value, false);
  }

  reject(error: unknown, stillRunning = false): void {
    this.owner.settle(this, false, error, stillRunning);
  }

  released(): void {
    this.owner.released(this);
  }

  /** AbortSignal listener while waiting. */
  handleEvent(): void {
    this.owner.abortWaiting(this);
  }
}
