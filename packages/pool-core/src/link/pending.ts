/**
 * One request sent to a runner and not yet answered. It is its own abort listener
 * (`handleEvent`), so a call allocates no closure beyond its promise's executor.
 */
import { FlameError } from "../errors.js";

export type PendingKind = "call" | "cast" | "child";

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
    private readonly resolveFn: (value: unknown) => void,
    private readonly rejectFn: (error: unknown) => void,
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
    this.resolveFn(value);
  }

  reject(error: unknown): void {
    this.signal?.removeEventListener("abort", this);
    this.rejectFn(error);
  }
}
