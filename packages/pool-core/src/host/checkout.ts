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
  /** The runner answered (ok) or failed, or the core failed the checkout (runner down). */
  settle(c: Checkout, ok: boolean, valueOrError: unknown): void;
  /** The caller's signal aborted while the checkout was still waiting for a slot. */
  abortWaiting(c: Checkout): void;
}

export class Checkout implements Reply {
  phase: "waiting" | "granted" | "done" = "waiting";
  runnerId: string | null = null;
  grantedAtMs = 0;
  /** A placed child's request id on its runner, to stop it. */
  requestId: number | null = null;

  constructor(
    private readonly owner: CheckoutOwner,
    readonly id: string,
    readonly kind: WorkKind,
    readonly fnId: string,
    readonly input: unknown,
    readonly signal: AbortSignal | undefined,
    readonly span: CallSpan,
    readonly startedAtMs: number,
    /** Where the outcome goes (a placed child swaps these for its `result` at grant). */
    public onValue: (value: unknown) => void,
    public onError: (error: FlameError) => void,
  ) {}

  resolve(value: unknown): void {
    this.owner.settle(this, true, value);
  }

  reject(error: unknown): void {
    this.owner.settle(this, false, error);
  }

  /** AbortSignal listener while waiting. */
  handleEvent(): void {
    this.owner.abortWaiting(this);
  }
}
