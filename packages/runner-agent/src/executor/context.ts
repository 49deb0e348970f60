/**
 * What a function sees as `ctx`. Its AbortController is made only when `signal` is read:
 * most functions never look, and one per call was ~8% of the runner's CPU on the call bench.
 * Likewise the idempotency key a call without retries did not carry is made only when read.
 */
import type { FunctionContext } from "@flame-ts/pool-core/protocol";

/** Aborts a context's signal; the only way in, so user code holding ctx can't abort it. */
export let abortContext: (ctx: CallContext, reason: unknown) => void;

export class CallContext implements FunctionContext {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;
  #idempotencyKey: string | undefined;
  readonly #taskId: number;
  readonly deadlineMs: number | null;
  readonly attempt: number;

  constructor(
    task: {
      readonly id: number;
      readonly deadlineMs: number | null;
      readonly idempotencyKey?: string | undefined;
      readonly attempt?: number | undefined;
    },
    readonly runnerId: string,
  ) {
    this.#taskId = task.id;
    this.deadlineMs = task.deadlineMs;
    this.attempt = task.attempt ?? 1;
    this.#idempotencyKey = task.idempotencyKey;
  }

  /**
   * The parent's key (the caller's own, or one made per call that may be retried), the same on
   * every attempt. Without one, the call has no retry to match: this runner's id and the call's
   * id on its link (never reused while the runner lives) make it unique.
   */
  get idempotencyKey(): string {
    this.#idempotencyKey ??= `${this.runnerId}/${this.#taskId}`;
    return this.#idempotencyKey;
  }

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  static {
    abortContext = (ctx, reason) => {
      if (ctx.#aborted) return;
      ctx.#aborted = true;
      ctx.#reason = reason;
      ctx.#controller?.abort(reason);
    };
  }
}
