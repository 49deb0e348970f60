/**
 * What a function sees as `ctx`. Its AbortController is made only when `signal` is read:
 * most functions never look, and one per call was ~8% of the runner's CPU on the call bench.
 */
import type { FunctionContext } from "@flame-ts/pool-core/protocol";

/** Aborts a context's signal; the only way in, so user code holding ctx can't abort it. */
export let abortContext: (ctx: CallContext, reason: unknown) => void;

export class CallContext implements FunctionContext {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;

  constructor(
    readonly deadlineMs: number | null,
    readonly runnerId: string,
  ) {}

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
