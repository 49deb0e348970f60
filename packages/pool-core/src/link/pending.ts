/**
 * One request sent to a runner and not yet over. It is its own abort listener (`handleEvent`)
 * and hands the outcome to a `Reply` the caller owns (the host's checkout), so a request
 * allocates no promise and no closure of its own.
 *
 * A request has two ends that usually coincide: the caller's answer, and the moment the work
 * really stopped on the runner (when the slot may be reused). A call that times out or is
 * cancelled is answered at once, but its slot stays taken until the runner says the function
 * stopped (it returned after its signal aborted, or its thread was terminated).
 */
import { FlameError } from "../errors.js";
import type { WorkKind } from "../wire/kinds.js";

export type { WorkKind };

/** Where one request's outcome goes. */
export interface Reply {
  /** The answer; the work has ended. */
  resolve(value: unknown): void;
  /** The answer. With `stillRunning`, the work goes on for now and `released()` follows. */
  reject(error: unknown, stillRunning?: boolean): void;
  /** Work answered with `stillRunning` has stopped: its slot is free. Called at most once. */
  released(): void;
}

export interface PendingOwner {
  /** The caller gave up: answer it now, tell the runner to cancel, keep the slot until it stops. */
  abandon(pending: Pending, error: FlameError): void;
}

export class Pending {
  /** The caller has its answer; the entry stays until the work ended. */
  answered = false;
  #releaseOwed = false;

  constructor(
    readonly owner: PendingOwner,
    readonly id: number,
    readonly kind: WorkKind,
    readonly fn: string,
    private readonly reply: Reply,
    /** Parent-side backstop (performance.now() ms: deadline + grace); null = none. */
    readonly backstopAtMs: number | null,
    readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener("abort", this, { once: true });
  }

  /** AbortSignal listener. */
  handleEvent(): void {
    if (this.answered) return;
    this.owner.abandon(
      this,
      new FlameError("ABORTED", `Call to "${this.fn}" was aborted by its signal.`, {
        cause: this.signal?.reason,
      }),
    );
  }

  resolve(value: unknown): void {
    if (this.#answer()) this.reply.resolve(value);
  }

  /** Answers with an error; `stillRunning` keeps the slot until `ended()`. */
  reject(error: unknown, stillRunning = false): void {
    if (!this.#answer()) return;
    this.#releaseOwed = stillRunning;
    this.reply.reject(error, stillRunning);
  }

  /** The work stopped (a final answer arrived, or `ended`, or the link is gone). */
  ended(): void {
    if (!this.#releaseOwed) return;
    this.#releaseOwed = false;
    this.reply.released();
  }

  #answer(): boolean {
    if (this.answered) return false;
    this.answered = true;
    this.signal?.removeEventListener("abort", this);
    return true;
  }
}
