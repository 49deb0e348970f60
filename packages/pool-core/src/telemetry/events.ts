/**
 * The typed, sequence-numbered event stream every pool publishes as `pool.events`
 * (ARCHITECTURE.md, "Telemetry"). The host emits; OpenTelemetry instrumentation, the ws
 * telemetry server and user code subscribe. A subscriber that sees a gap in `seq` re-reads
 * `snapshot()`, whose `seq` says which event it reflects.
 */
import type { WorkKind } from "../wire/kinds.js";

export interface RunnerSnapshot {
  readonly id: string;
  readonly state: "booting" | "ready" | "draining";
  /** Calls running on it: at most `maxConcurrency`. */
  readonly inflight: number;
  /**
   * Calls it holds queued to start the moment a slot frees (`prefetch`: up to one per thread
   * that runs its functions): sent while
   * every runner was busy and the pool at `max`.
   */
  readonly queued: number;
  readonly isMin: boolean;
  /** Epoch ms when the runner said hello (null while booting). */
  readonly bootedAtMs: number | null;
  readonly callsServed: number;
  readonly meta: Readonly<Record<string, string>>;
  /**
   * Calls whose tracked resources this runner keeps (one slot each, counted in `inflight`):
   * while any is held the runner is not shut down for idleness.
   */
  readonly tracked: number;
  /** Calls pinned to those resources (`{ on: handle }`): running plus queued. */
  readonly pinned: number;
}

export interface PoolSnapshot {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  /** Callers that may wait at once (null = unbounded). */
  readonly maxWaiting: number | null;
  /** Idle runners kept ready beyond demand. */
  readonly buffer: number;
  /** The runner-time budget and what the current window has spent (null = no budget). */
  readonly budget: {
    readonly runnerMs: number;
    readonly windowMs: number;
    readonly spentMs: number;
  } | null;
  /** `drain()` was called: new calls are refused while the rest finish. */
  readonly draining: boolean;
  readonly waiting: number;
  readonly pendingBoots: number;
  readonly runners: readonly RunnerSnapshot[];
}

/** A snapshot together with the sequence number of the last event it reflects. */
export interface SequencedSnapshot extends PoolSnapshot {
  readonly seq: number;
  readonly timeMs: number;
}

export type PoolEventBody =
  | {
      readonly type: "growStart";
      readonly bootId: string;
      /** The id the booting runner will have. */
      readonly runnerId?: string;
      readonly count: number;
      readonly isMin: boolean;
    }
  | {
      readonly type: "growEnd";
      readonly bootId: string;
      readonly count: number;
      readonly ok: boolean;
      readonly runnerId?: string;
      readonly error?: string;
      /** True when the backend said retrying cannot help (entry or image missing, bad config). */
      readonly permanent?: boolean;
      readonly bootMs: number;
    }
  | {
      readonly type: "bootFailed";
      readonly bootId: string;
      readonly error: string;
      readonly bootMs: number;
    }
  | {
      readonly type: "runnerUp";
      readonly runnerId: string;
      readonly isMin: boolean;
      readonly meta: Readonly<Record<string, string>>;
      readonly bootMs: number;
    }
  | {
      readonly type: "runnerDown";
      readonly runnerId: string;
      readonly reason: string;
      readonly exitCode: number | null;
      /**
       * True when the pool had asked this runner to leave (idle, stop, resize, single use) or an
       * operator killed it; false when it died on its own (a crash). Absent when the host does
       * not know.
       */
      readonly expected?: boolean;
      /** "operator": killed through `killRunner` (the dashboard's control or the pool API). */
      readonly cause?: "operator";
    }
  | {
      readonly type: "shrink";
      readonly runnerId: string;
      readonly count: number;
      readonly reason: string;
    }
  | {
      readonly type: "checkoutWaited";
      readonly checkoutId: string;
      readonly runnerId: string;
      readonly waitedMs: number;
    }
  | { readonly type: "checkoutTimeout"; readonly checkoutId: string; readonly waitedMs: number }
  | {
      readonly type: "callFinished";
      readonly kind: WorkKind;
      readonly fn: string;
      readonly runnerId: string | null;
      readonly durationMs: number;
      readonly ok: boolean;
      readonly errorCode?: string;
      /** The error's message for a failed call, cut to 300 characters. */
      readonly errorMessage?: string;
    }
  /**
   * A call's runner died mid-call and its `retry` option runs it again (attempt 1 = the first
   * retry) after `backoffMs`, within its original timeout; `runnerId` is the runner lost.
   */
  | {
      readonly type: "callRetry";
      readonly checkoutId: string;
      readonly fn: string;
      readonly runnerId: string | null;
      readonly attempt: number;
      readonly reason: string;
      readonly backoffMs: number;
    }
  | {
      readonly type: "resize";
      readonly min: number;
      readonly max: number;
      readonly buffer?: number;
    }
  /** A caller was refused OVERLOADED: `waiting` callers already queued, the most allowed. */
  | { readonly type: "overloaded"; readonly waiting: number; readonly maxWaiting: number }
  /** A boot was needed but the runner-time budget is spent (reported once per blocked spell). */
  | { readonly type: "budgetBlocked"; readonly spentMs: number; readonly budgetMs: number }
  /**
   * A runner asked to leave was still there after shutdownTimeout and was killed through its
   * backend; `abandoned: true` when even the kill was never confirmed and the pool gave up.
   */
  | {
      readonly type: "runnerKilled";
      readonly runnerId: string;
      readonly reason: string;
      readonly abandoned: boolean;
    }
  /**
   * The pool is stopping and this runner runs unlinked work (`link: false`): it is asked to
   * leave once that work ends, or after `timeoutMs` (the pool's shutdownTimeout) at the latest.
   */
  | {
      readonly type: "unlinkedWait";
      readonly runnerId: string;
      readonly unlinked: number;
      readonly timeoutMs: number;
    }
  /** `drain({ timeout })` began: new calls are refused, the rest finish, then the pool stops. */
  | { readonly type: "drain"; readonly timeoutMs: number | null }
  /**
   * An operator action taken through the pool's API (`drainRunner`, `killRunner`, `resize`),
   * e.g. from the dashboard. `ok: false` says it was refused and `detail` why.
   */
  | {
      readonly type: "control";
      readonly action: ControlAction;
      /** The runner acted on, or the pool's name for `resize`. */
      readonly target: string;
      /** Who asked (e.g. "dashboard"), as the caller passed it; null when not given. */
      readonly by: string | null;
      readonly ok: boolean;
      readonly detail: string;
    }
  /**
   * A call answered with tracked resources (`ctx.track`): the caller got `count` handles, and
   * the call (`checkoutId`) keeps its slot on `runnerId` until every one is released.
   */
  | {
      readonly type: "trackedHeld";
      readonly runnerId: string;
      readonly fn: string;
      readonly checkoutId: string;
      readonly count: number;
    }
  /**
   * Tracked resource `index` of holder `checkoutId` is gone: `released` (its `release()`),
   * `collected` (its handle was garbage-collected), `lost` (with its runner thread),
   * `runnerDown` (its runner is gone), `stopped` (the pool stopped). `error`: its dispose threw.
   */
  | {
      readonly type: "trackedReleased";
      readonly runnerId: string;
      readonly checkoutId: string;
      readonly index: number;
      readonly reason: "released" | "collected" | "lost" | "runnerDown" | "stopped";
      readonly error?: string;
    }
  | { readonly type: "stopped" };

export type ControlAction = "drainRunner" | "killRunner" | "resize";

export type PoolEvent = PoolEventBody & {
  readonly seq: number;
  readonly timeMs: number;
  readonly pool: string;
};

export type PoolEventListener = (event: PoolEvent) => void;

/** What `pool.events` is. */
export interface PoolEvents {
  /** Returns the unsubscribe function. Listeners run synchronously; a throwing listener is logged and kept. */
  subscribe(listener: PoolEventListener): () => void;
  snapshot(): SequencedSnapshot;
  /** Sequence number of the last event emitted (0 before any). */
  readonly seq: number;
}

/**
 * The host's implementation of `PoolEvents`. `snapshotSource` is read lazily so the stream
 * never holds a copy of pool state.
 */
export class PoolEventStream implements PoolEvents {
  #seq = 0;
  readonly #listeners = new Set<PoolEventListener>();
  readonly #pool: string;
  readonly #snapshotSource: () => PoolSnapshot;
  readonly #nowMs: () => number;
  readonly #onListenerError: (error: unknown) => void;

  constructor(options: {
    pool: string;
    snapshot: () => PoolSnapshot;
    nowMs: () => number;
    onListenerError?: (error: unknown) => void;
  }) {
    this.#pool = options.pool;
    this.#snapshotSource = options.snapshot;
    this.#nowMs = options.nowMs;
    this.#onListenerError = options.onListenerError ?? (() => {});
  }

  get seq(): number {
    return this.#seq;
  }

  subscribe(listener: PoolEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): SequencedSnapshot {
    return { ...this.#snapshotSource(), seq: this.#seq, timeMs: this.#nowMs() };
  }

  emit(body: PoolEventBody): void {
    this.#seq += 1;
    if (this.#listeners.size === 0) return;
    const event = { ...body, seq: this.#seq, timeMs: this.#nowMs(), pool: this.#pool } as PoolEvent;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
