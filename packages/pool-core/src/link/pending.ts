/**
 * One request sent to a runner and not yet answered. It is its own abort listener
 * (`handleEvent`) and hands the outcome to a `Reply` the caller owns (the host's checkout), so
 * a request allocates no promise and no closure of its own.
 */
import { FlameError } from "../errors.js";

export type PendingKind = "call" | "cast" | "child";

/** Where one request's outcome goes, exactly once. */
export interface Reply {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface PendingOwner {
  /** The caller gave up: forget the request, tell the runner to cancel. */
  abandon(pending: Pending, error: FlameError): void;
}

export class Pending {
  constructor(
    readonly owner: PendingOwner,
    readonly id: number,
    readonly kind: PendingKind,
    readonly fn: string,
    private readonly reply: Reply,
    /** Parent-side backstop (deadline + grace); null = none. */
    readonly backstopAtMs: number | null,
    readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener("abort", this, { once: true });
  }

  /** AbortSignal listener. */
  handleEvent(): void {
    this.owner.abandon(
      this,
      new FlameError("ABORTED", `Call to "${this.fn}" was aborted by its signal.`, {
        cause: this.signal?.reason,
      }),
    );
  }

  resolve(value: unknown): void {
    this.signal?.removeEventListener("abort", this);
    this.reply.resolve(value);
  }

  reject(error: unknown): void {
    this.signal?.removeEventListener("abort", this);
    this.reply.reject(error);
  }
}
