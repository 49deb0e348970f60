/**
 * What a function sees as `ctx`. Its AbortController is made only when `signal` is read:
 * most functions never look, and one per call was ~8% of the runner's CPU on the call bench.
 * Likewise the idempotency key a call without retries did not carry is made only when read.
 * `track` and `get` reach the thread's tracked values (tracked-table.ts).
 */
import type { Dispose, FunctionContext, Tracked } from "@flame-ts/pool-core/protocol";
import { formatTrackedRef, TRACKED_KEY, type WorkKind } from "@flame-ts/pool-core/wire";
import type { TrackedTable } from "./tracked-table.js";

/** Aborts a context's signal; the only way in, so user code holding ctx can't abort it. */
export let abortContext: (ctx: CallContext, reason: unknown) => void;

/** The task answered: from now on its ctx.track throws (nothing could carry the value). */
export let sealContext: (ctx: CallContext) => void;

export class CallContext implements FunctionContext {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;
  #idempotencyKey: string | undefined;
  readonly #taskId: number;
  readonly #kind: WorkKind;
  readonly #table: TrackedTable;
  /** Pinned: the reference of the value `resource` reads. */
  readonly #resourceRef: string | undefined;
  #sealed = false;
  readonly deadlineMs: number | null;
  readonly attempt: number;

  constructor(
    task: {
      readonly id: number;
      readonly kind: WorkKind;
      readonly deadlineMs: number | null;
      readonly idempotencyKey?: string | undefined;
      readonly attempt?: number | undefined;
      readonly on?: number | undefined;
      readonly onIndex?: number | undefined;
    },
    readonly runnerId: string,
    table: TrackedTable,
  ) {
    this.#taskId = task.id;
    this.#kind = task.kind;
    this.#table = table;
    this.deadlineMs = task.deadlineMs;
    this.attempt = task.attempt ?? 1;
    this.#idempotencyKey = task.idempotencyKey;
    if (task.on !== undefined) {
      this.#resourceRef = formatTrackedRef({ runnerId, group: task.on, index: task.onIndex ?? 0 });
    }
  }

  /**
   * The value of the handle the call is pinned to, looked up when read: a release that arrived
   * meanwhile makes it RESOURCE_GONE rather than a disposed object.
   */
  get resource(): unknown {
    const ref = this.#resourceRef;
    return ref === undefined ? undefined : this.#table.get({ [TRACKED_KEY]: ref });
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

  track<T>(value: T, dispose?: Dispose<T>): Tracked<T> {
    if (this.#kind !== "call") {
      throw new TypeError(
        `ctx.track in a ${this.#kind === "child" ? "placed child" : "cast"}: only a call's result can carry tracked values (use pool.call)`,
      );
    }
    if (this.#sealed) {
      throw new TypeError(
        "ctx.track after the call answered: track values before returning the result that carries them",
      );
    }
    return this.#table.track(this.#taskId, value, dispose);
  }

  get<T>(handle: Tracked<T>): T {
    return this.#table.get(handle) as T;
  }

  static {
    sealContext = (ctx) => {
      ctx.#sealed = true;
    };
    abortContext = (ctx, reason) => {
      if (ctx.#aborted) return;
      ctx.#aborted = true;
      ctx.#reason = reason;
      ctx.#controller?.abort(reason);
    };
  }
}
