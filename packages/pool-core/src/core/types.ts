/**
 * Events in, effects out: the vocabulary of the pure pool core (ARCHITECTURE.md, "The core").
 *
 * Ids: checkout ids come from the host (one per caller); boot ids and runner ids are minted
 * by the core from counters (runner ids under `CoreConfig.runnerIdPrefix`, which the host makes
 * unique per pool instance), so a replay of the same events yields the same effects.
 * Times are milliseconds on the host's monotonic clock (any origin); `null` means "never".
 * Durations (`…Ms` without "At"/"Deadline") are relative.
 */

export type CheckoutId = string;
export type RunnerId = string;
export type BootId = string;

export type CoreErrorCode =
  | "TIMEOUT"
  | "RUNNER_DOWN"
  | "BOOT_FAILED"
  | "POOL_STOPPED"
  | "ABORTED"
  | "OVERLOADED"
  | "BUDGET_EXHAUSTED"
  /** A pinned call's tracked resources are gone: released, or their runner left. */
  | "RESOURCE_GONE";

/** An error as data: the host turns it into a `FlameError` with the same code. */
export interface CoreError {
  readonly code: CoreErrorCode;
  readonly message: string;
  /** BOOT_FAILED only: the backend said retrying cannot help. */
  readonly permanent?: boolean;
}

/** Runner time the pool may spend: boot start to exit, summed over runners, per rolling window. */
export interface BudgetConfig {
  readonly runnerMs: number;
  readonly windowMs: number;
}

/** The limits and policies the core enforces. */
export interface CoreConfig {
  readonly name: string;
  /** Runner ids are `${runnerIdPrefix}${n}`; the host makes the prefix unique per pool. */
  readonly runnerIdPrefix: string;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  /** Idle ready runners kept beyond current demand (within `max`). */
  readonly buffer: number;
  /** Callers queued at once; one more is rejected OVERLOADED. null = unbounded. */
  readonly maxWaiting: number | null;
  readonly budget: BudgetConfig | null;
  /** Boot deadline: backend call plus the runner's hello. */
  readonly bootTimeoutMs: number;
  /** From `shutdownRunner` to `killRunner` when the runner has not exited. */
  readonly shutdownTimeoutMs: number;
  /** From `killRunner` until the core gives up on the runner's exit report (hung backend). */
  readonly killGraceMs: number;
  /** Idle time after which a non-min runner is shut down; null = never. */
  readonly idleShutdownAfterMs: number | null;
  /** Idle time after which a min runner is shut down; null = never (FLAME's default). */
  readonly minIdleShutdownAfterMs: number | null;
  /** When true, an expired idle timer emits `checkIdle` and waits for `idleChecked`. */
  readonly hasIdleCheck: boolean;
  /** When true, a runner is shut down after its first checkout ends. */
  readonly singleUse: boolean;
  /**
   * When every runner is busy and the pool cannot grow, a runner is granted up to one call per
   * thread (`bootSucceeded.threads`) beyond
   * `maxConcurrency` to hold queued and start the moment a slot frees (prefetch.ts). Off for
   * single-use runners.
   */
  readonly prefetch: boolean;
  /** Debounce before retrying a failed boot while demand is unmet (FLAME: 1 s). */
  readonly bootRetryDelayMs: number;
  /**
   * The backstop for a runner that never answers: a granted call still unanswered this long
   * after its run deadline is failed TIMEOUT by the core (the runner should have answered
   * TIMEOUT at the deadline itself). Public option `link.deadlineGrace`.
   */
  readonly deadlineGraceMs: number;
}

/**
 * Opt-in retries of a call whose runner died (RUNNER_DOWN), never of one whose function threw
 * or whose runner answered: up to `runnerDown` more attempts, each `backoffMs` after the loss,
 * all within the call's original deadline.
 */
export interface RetryPolicy {
  readonly runnerDown: number;
  readonly backoffMs: number;
}

export type CheckinReason = "done" | "timeout" | "error";
/** Why a runner leaves; `announced`: the runner said it is leaving (nothing is sent to it). */
export type ShutdownReason = "idle" | "single_use" | "resize" | "stop" | "operator" | "announced";

/** What the host tells the core (named apart from telemetry's `PoolEvent`, which is output). */
export type CoreEvent =
  /** Boot `min` runners. The first `checkout` starts the pool too; a repeat is a no-op. */
  | { readonly type: "start" }
  /**
   * A caller wants a slot for `timeoutMs` (queue + run; null = no bound). The core decides
   * the queue bound (cold callers may wait for a boot up to max(timeout, bootTimeout)) and the
   * run deadline it puts in `grant`.
   */
  | {
      readonly type: "checkout";
      readonly checkoutId: CheckoutId;
      readonly timeoutMs: number | null;
      /**
       * A cast or a placed child: `timeoutMs` bounds only the wait; the grant carries no run
       * deadline and the core keeps no backstop for it.
       */
      readonly unboundedRun?: true;
      /** Calls only (ignored with `unboundedRun`): retry when its runner dies. */
      readonly retry?: RetryPolicy;
      /**
       * FLAME's `link: false`: the work outlives its caller; at stop its runner waits for it up
       * to `shutdownTimeoutMs` before it is asked to leave.
       */
      readonly unlinked?: true;
      /**
       * Pinned: run in the slot of the checkout `on`, which holds tracked resources
       * (`convertToTracked`): on its runner, one pinned call at a time, FIFO, taking no slot
       * of its own. Rejected RESOURCE_GONE when that holder is gone or being released.
       */
      readonly on?: CheckoutId;
    }
  | { readonly type: "checkin"; readonly checkoutId: CheckoutId; readonly reason: CheckinReason }
  /**
   * The runner gave back a call it held queued (the core's `unqueue`) before starting it: the
   * call never ran. The core places it again, ahead of callers that came after it; the host
   * treats the checkout as waiting until the next `grant`.
   */
  | { readonly type: "unqueued"; readonly checkoutId: CheckoutId }
  | { readonly type: "convertToChild"; readonly checkoutId: CheckoutId; readonly childId: string }
  /**
   * A granted call answered with tracked resources: its checkout becomes their holder. It
   * keeps its slot (so its runner is never idle) until its `checkin` (every resource
   * released), and calls pinned to it run in that slot.
   */
  | { readonly type: "convertToTracked"; readonly checkoutId: CheckoutId }
  | { readonly type: "callerGone"; readonly checkoutId: CheckoutId }
  /**
   * The caller of a granted call has its outcome (an abort, the runner's own TIMEOUT) while the
   * slot stays held until `checkin`: a runner loss now is not retried (the runner answered).
   */
  | { readonly type: "answered"; readonly checkoutId: CheckoutId }
  /**
   * `threads`: how many threads run the runner's functions (its hello; 1 when absent). With
   * prefetch it may hold that many calls queued (at most `maxConcurrency`): one to start on
   * each thread the moment it is free.
   */
  | { readonly type: "bootSucceeded"; readonly bootId: BootId; readonly threads?: number }
  /** `permanent`: retrying cannot help (entry or image missing, bad config). */
  | {
      readonly type: "bootFailed";
      readonly bootId: BootId;
      readonly error: string;
      readonly permanent: boolean;
    }
  /** The runner is gone (its link closed or its process exited): its checkouts fail. */
  | { readonly type: "runnerDown"; readonly runnerId: RunnerId; readonly reason: string }
  /**
   * The runner announced it is leaving (single use done, failsafe, fatal error): it takes no
   * new work; what it runs may still finish; it is killed if it has not exited by
   * shutdownTimeout.
   */
  | { readonly type: "runnerLeaving"; readonly runnerId: RunnerId; readonly reason: string }
  | { readonly type: "idleChecked"; readonly runnerId: RunnerId; readonly shutdown: boolean }
  | {
      readonly type: "resize";
      readonly min: number;
      readonly max: number;
      readonly buffer?: number;
    }
  /** An operator asked this runner to leave: it takes no new work, finishes its calls, exits. */
  | { readonly type: "drainRunner"; readonly runnerId: RunnerId }
  /** Refuse new callers; finish queued and running ones until `timeoutMs`, then stop. */
  | { readonly type: "drain"; readonly timeoutMs: number | null }
  | { readonly type: "stop" }
  | { readonly type: "tick" };

export type Effect =
  /** Start the work; `runDeadlineMs` is when it must be over (null = no bound). */
  | {
      readonly type: "grant";
      readonly checkoutId: CheckoutId;
      readonly runnerId: RunnerId;
      readonly runDeadlineMs: number | null;
    }
  | { readonly type: "reject"; readonly checkoutId: CheckoutId; readonly error: CoreError }
  /**
   * Ask `runnerId` to give back call `checkoutId`, granted to it queued (behind its running
   * calls), because a slot freed on another runner. The runner gives it back (the host reports
   * `unqueued`) unless it already started it, in which case its answer comes as usual.
   */
  | { readonly type: "unqueue"; readonly checkoutId: CheckoutId; readonly runnerId: RunnerId }
  /** Start runner `runnerId`; the core calls it failed at `deadlineMs` (then `abortBoot`). */
  | {
      readonly type: "boot";
      readonly bootId: BootId;
      readonly runnerId: RunnerId;
      readonly isMin: boolean;
      readonly deadlineMs: number;
    }
  /** Give up on a boot: abort the backend call and stop whatever it started. Report nothing more. */
  | {
      readonly type: "abortBoot";
      readonly bootId: BootId;
      readonly runnerId: RunnerId;
      readonly reason: string;
    }
  /** Ask the runner to finish its work within `timeoutMs` and exit. */
  | {
      readonly type: "shutdownRunner";
      readonly runnerId: RunnerId;
      readonly reason: ShutdownReason;
      readonly timeoutMs: number;
    }
  /** End the runner through its backend now (it did not leave in time). */
  | { readonly type: "killRunner"; readonly runnerId: RunnerId; readonly reason: string }
  /**
   * The backend never confirmed the killed runner's exit: the core has forgotten it (its
   * checkouts failed). Drop it from the host's books; a late exit report is ignored.
   */
  | { readonly type: "forgetRunner"; readonly runnerId: RunnerId; readonly reason: string }
  /**
   * Fail a granted caller: its runner died (the slot is gone with it), or (`answeredEarly`) its
   * runner did not answer by the run deadline plus `deadlineGraceMs`: the caller fails now, the
   * runner is told to cancel, and the slot stays held until the host checks it in (the work
   * stopped) or the runner goes down.
   */
  | {
      readonly type: "failCheckout";
      readonly checkoutId: CheckoutId;
      readonly error: CoreError;
      readonly answeredEarly?: true;
    }
  /**
   * The runner of a granted call died and the call's retry policy allows another attempt: the
   * caller is not failed; its slot is gone with the runner, and the core queues it again (as a
   * waiter, behind those already queued, within its original deadline) at `retryAtMs`. The host
   * treats the checkout as waiting again; `callerGone` withdraws it.
   */
  | {
      readonly type: "retryCheckout";
      readonly checkoutId: CheckoutId;
      /** 1 for the first retry. */
      readonly attempt: number;
      readonly error: CoreError;
      readonly retryAtMs: number;
    }
  | { readonly type: "checkIdle"; readonly runnerId: RunnerId }
  /** Stopped, no runner and no boot left: the host may close its server. Emitted once. */
  | { readonly type: "stopped" }
  | { readonly type: "telemetry"; readonly event: CoreTelemetryEvent };

/** What the core reports for observers; the host adds `seq`, time and pool name. */
export type CoreTelemetryEvent =
  | {
      readonly type: "growStart";
      readonly bootId: BootId;
      readonly runnerId: RunnerId;
      readonly count: number;
      readonly isMin: boolean;
    }
  | {
      readonly type: "growEnd";
      readonly bootId: BootId;
      readonly count: number;
      readonly ok: boolean;
      readonly runnerId: RunnerId;
      readonly bootMs: number;
      readonly error?: string;
      readonly permanent?: boolean;
    }
  | {
      readonly type: "shrink";
      readonly runnerId: RunnerId;
      readonly count: number;
      readonly reason: string;
    }
  | { readonly type: "waiting"; readonly checkoutId: CheckoutId; readonly waiting: number }
  | {
      readonly type: "checkout";
      readonly checkoutId: CheckoutId;
      readonly runnerId: RunnerId;
      readonly waitedMs: number;
    }
  | { readonly type: "timeout"; readonly checkoutId: CheckoutId; readonly waitedMs: number }
  | { readonly type: "resize"; readonly min: number; readonly max: number; readonly buffer: number }
  | { readonly type: "overloaded"; readonly waiting: number; readonly maxWaiting: number }
  | { readonly type: "budgetBlocked"; readonly spentMs: number; readonly budgetMs: number }
  /** A runner that did not leave within shutdownTimeout was killed (or, after killGrace, abandoned). */
  | {
      readonly type: "runnerKilled";
      readonly runnerId: RunnerId;
      readonly reason: string;
      readonly abandoned: boolean;
    }
  | { readonly type: "drain"; readonly timeoutMs: number | null }
  /**
   * The pool stopped while this runner runs unlinked work (`link: false`): it takes no new work
   * and is asked to leave once that work ends, or at the latest after `timeoutMs`.
   */
  | {
      readonly type: "unlinkedWait";
      readonly runnerId: RunnerId;
      readonly unlinked: number;
      readonly timeoutMs: number;
    };

/** A runner's lifecycle phase (see `RUNNER_TRANSITIONS` in state.ts). */
export type RunnerPhase = "ready" | "idleCheck" | "draining" | "stopping" | "killed";

/** Plain-data view of the core state (the host adds backend meta for `pool.snapshot()`). */
export interface CoreSnapshot {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  readonly buffer: number;
  readonly maxWaiting: number | null;
  readonly budget: { readonly runnerMs: number; readonly windowMs: number; spentMs: number } | null;
  readonly waiting: number;
  readonly pendingBoots: number;
  readonly draining: boolean;
  readonly stopped: boolean;
  readonly boots: ReadonlyArray<{
    readonly bootId: BootId;
    readonly runnerId: RunnerId;
    readonly isMin: boolean;
    readonly startedAtMs: number;
  }>;
  readonly runners: ReadonlyArray<{
    readonly id: RunnerId;
    readonly state: "ready" | "draining";
    readonly phase: RunnerPhase;
    /** Calls running on it (within maxConcurrency). */
    readonly inflight: number;
    /** Calls it holds queued beyond maxConcurrency, to start when a slot frees (one per thread at most). */
    readonly queued: number;
    readonly isMin: boolean;
    readonly bootedAtMs: number;
    readonly callsServed: number;
    /** Slots held by tracked resources (holders) on this runner. */
    readonly tracked: number;
    /** Calls pinned to those resources: running (at most one per holder) plus queued. */
    readonly pinned: number;
  }>;
}
