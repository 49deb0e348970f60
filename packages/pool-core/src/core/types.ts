/**
 * Events in, effects out: the vocabulary of the pure pool core (ARCHITECTURE.md, "The core").
 *
 * Ids are strings chosen outside the core (checkout ids and runner ids by the host) or by a
 * counter inside it (boot ids), so a replay of the same events yields the same effects.
 * Times are epoch-free numbers in milliseconds on the host's clock; `null` means "never".
 */

export type CheckoutId = string;
export type RunnerId = string;
export type BootId = string;

/** An error as data: the host turns it into a `FlameError` with the same code. */
export interface CoreError {
  readonly code: "TIMEOUT" | "RUNNER_DOWN" | "BOOT_FAILED" | "POOL_STOPPED" | "ABORTED";
  readonly message: string;
}

/** The limits and policies the core enforces. Validated by `validateCoreConfig`. */
export interface CoreConfig {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  /** Idle time after which a non-min runner is shut down; null = never. */
  readonly idleShutdownAfterMs: number | null;
  /** Idle time after which a min runner is shut down; null = never (FLAME's default). */
  readonly minIdleShutdownAfterMs: number | null;
  /** When true, an expired idle timer emits `checkIdle` and waits for `idleChecked`. */
  readonly hasIdleCheck: boolean;
  /** When true, a runner is shut down after its first checkout ends. */
  readonly singleUse: boolean;
  /** Debounce before retrying a failed boot while demand is unmet (FLAME: 1 s). */
  readonly bootRetryDelayMs: number;
}

export type CheckinReason = "done" | "timeout" | "error";
export type ShutdownReason = "idle" | "single_use" | "resize" | "stop" | "operator";

export type PoolEvent =
  /** Boot `min` runners. Sent once by the host before anything else. */
  | { readonly type: "start" }
  | {
      readonly type: "checkout";
      readonly checkoutId: CheckoutId;
      readonly deadlineMs: number | null;
    }
  | { readonly type: "checkin"; readonly checkoutId: CheckoutId; readonly reason: CheckinReason }
  | { readonly type: "convertToChild"; readonly checkoutId: CheckoutId; readonly childId: string }
  | { readonly type: "callerGone"; readonly checkoutId: CheckoutId }
  | { readonly type: "bootSucceeded"; readonly bootId: BootId; readonly runnerId: RunnerId }
  | { readonly type: "bootFailed"; readonly bootId: BootId; readonly error: string }
  | { readonly type: "runnerDown"; readonly runnerId: RunnerId; readonly reason: string }
  | { readonly type: "idleChecked"; readonly runnerId: RunnerId; readonly shutdown: boolean }
  | { readonly type: "resize"; readonly min: number; readonly max: number }
  /** An operator asked this runner to leave: it takes no new work, finishes its calls, exits. */
  | { readonly type: "drainRunner"; readonly runnerId: RunnerId }
  | { readonly type: "stop" }
  | { readonly type: "tick" };

export type Effect =
  | { readonly type: "grant"; readonly checkoutId: CheckoutId; readonly runnerId: RunnerId }
  | { readonly type: "reject"; readonly checkoutId: CheckoutId; readonly error: CoreError }
  | { readonly type: "boot"; readonly bootId: BootId; readonly isMin: boolean }
  | {
      readonly type: "shutdownRunner";
      readonly runnerId: RunnerId;
      readonly reason: ShutdownReason;
    }
  | { readonly type: "failCheckout"; readonly checkoutId: CheckoutId; readonly error: CoreError }
  | { readonly type: "checkIdle"; readonly runnerId: RunnerId }
  | { readonly type: "telemetry"; readonly event: CoreTelemetryEvent };

/** What the core reports for observers; the host adds `seq`, time and pool name. */
export type CoreTelemetryEvent =
  | {
      readonly type: "growStart";
      readonly bootId: BootId;
      readonly count: number;
      readonly isMin: boolean;
    }
  | {
      readonly type: "growEnd";
      readonly bootId: BootId;
      readonly count: number;
      readonly ok: boolean;
      readonly runnerId?: RunnerId;
      readonly error?: string;
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
  | { readonly type: "resize"; readonly min: number; readonly max: number };

export type RunnerPhase = "booting" | "ready" | "draining";

/** Plain-data view of the core state (the host adds backend meta for `pool.snapshot()`). */
export interface CoreSnapshot {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  readonly waiting: number;
  readonly pendingBoots: number;
  readonly stopped: boolean;
  readonly runners: ReadonlyArray<{
    readonly id: RunnerId;
    readonly state: "ready" | "draining";
    readonly inflight: number;
    readonly isMin: boolean;
    readonly bootedAtMs: number;
    readonly callsServed: number;
  }>;
}
