/** The simulated world's records: what each caller, runner and agenda entry is, and the run's result. */
import type { RetryPolicy, step } from "../../src/core/index.js";

export interface SimOptions {
  readonly seed: number;
  /** Events in the safety phase (default 400). */
  readonly safetySteps?: number;
  /** Record a line per step (costs time; on for replays and failures). */
  readonly trace?: boolean;
  /** The reducer under test; tests pass a broken one to prove the checks can fail. */
  readonly step?: typeof step;
  /** Fault rates to force over the seed's own (a test aiming at one rare path). */
  readonly swarm?: Partial<Swarm>;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  /** The step at which a check failed. */
  readonly failedAtStep: number | null;
  readonly error: string | null;
  readonly trace: readonly string[];
  readonly stats: {
    readonly steps: number;
    readonly callers: number;
    readonly granted: number;
    readonly timedOut: number;
    readonly runnersBooted: number;
    readonly crashes: number;
    /** Rejections by code (TIMEOUT, OVERLOADED, BUDGET_EXHAUSTED, BOOT_FAILED, POOL_STOPPED). */
    readonly rejects: Readonly<Record<string, number>>;
    readonly kills: number;
    readonly abandoned: number;
    readonly abortedBoots: number;
    readonly bufferBoots: number;
    /** Calls the core's backstop failed (a runner that never answered). */
    readonly backstops: number;
    /** Runners that announced they were leaving. */
    readonly leaves: number;
    /** Calls the core re-queued after their runner died (issue 24's `retry`). */
    readonly retries: number;
    /** Calls that answered with tracked values (issue 24), and calls granted pinned to them. */
    readonly holders: number;
    readonly pinned: number;
    /** Calls granted to a full runner, held there queued (prefetch), and given back. */
    readonly prefetched: number;
    readonly unqueued: number;
  };
}

/** Per-seed rates: some seeds see no crashes at all, others a storm of them. */
export interface Swarm {
  readonly bootFailP: number;
  readonly crashP: number;
  readonly cancelWaitingP: number;
  readonly cancelRunningP: number;
  readonly deadlineP: number;
  readonly childP: number;
  readonly resizeP: number;
  readonly stopP: number;
  readonly drainP: number;
  readonly permanentP: number;
  readonly hangBootP: number;
  readonly ignoreShutdownP: number;
  readonly hungBackendP: number;
  /** A granted call with a run deadline is never answered (the core's backstop fails it). */
  readonly silentP: number;
  /** A runner announces it is leaving (single use, failsafe) and exits soon after. */
  readonly leaveP: number;
  readonly idleCheckYesP: number;
  /** A caller has a retry policy (issue 24): re-queued when its runner dies. */
  readonly retryP: number;
  /** A granted retrying call is answered early by its runner (ABORTED): never retried after. */
  readonly answeredP: number;
  /** A caller's work is unlinked (`link: false`). */
  readonly unlinkedP: number;
  /** A finished call answers with tracked values: it holds its slot until released. */
  readonly trackP: number;
  /** A new caller is pinned to a holder (a live one mostly, else one released or gone). */
  readonly pinP: number;
  readonly meanArrivalMs: number;
  readonly meanHoldMs: number;
  readonly meanBootMs: number;
}

/**
 * `answeredEarly`: failed by the backstop, its slot held until the work stops. `holding`: it
 * answered with tracked values, its slot held until released; `releasing`: released while a
 * pinned call of it runs, its slot held until that call ends.
 */
type CallerStatus =
  | "new"
  | "waiting"
  | "granted"
  | "answeredEarly"
  | "holding"
  | "releasing"
  | "done"
  | "rejected"
  | "failed"
  | "gone";

export interface Caller {
  readonly id: string;
  status: CallerStatus;
  /** arrival + timeout: the core may not time it out before this. */
  deadlineMs: number | null;
  runnerId: string | null;
  /** The run deadline its grant carried: the backstop may not fire before it plus the grace. */
  runDeadlineMs: number | null;
  readonly retry: RetryPolicy | null;
  /** Retries the core made so far. */
  retries: number;
  /** Converted to a placed child at its grant (never retried). */
  child: boolean;
  /** `link: false`: its caller going away does not stop it; stop waits for it. */
  readonly unlinked: boolean;
  /** Pinned to this holder's tracked resources (issue 24). */
  readonly on: string | null;
}

export interface FakeRunner {
  readonly id: string;
  alive: boolean;
  shutdownRequested: boolean;
  /** Ignores its shutdown; exits only when killed. */
  readonly stubborn: boolean;
  /** Its backend never reports the exit, even after a kill (the core abandons it). */
  readonly hung: boolean;
  abandoned: boolean;
  /** It announced it is leaving: the core must not grant it anything more. */
  leaving: boolean;
  /**
   * Calls granted beyond its slots, held queued in arrival order, as the agent holds them:
   * each starts when a slot frees (prefetch).
   */
  readonly queue: string[];
  /** Threads its hello reports: with prefetch, it may hold that many calls queued. */
  readonly threads: number;
}

export type Action =
  | { readonly kind: "arrive" }
  | { readonly kind: "finish"; readonly callerId: string }
  | { readonly kind: "leave"; readonly runnerId: string }
  | { readonly kind: "cancel"; readonly callerId: string }
  | { readonly kind: "answer"; readonly callerId: string }
  /** The core's `unqueue` reaches the runner: it gives the call back if it has not started. */
  | { readonly kind: "unqueueArrives"; readonly callerId: string; readonly runnerId: string }
  /** A queued call's run deadline passed before it started: its runner answers TIMEOUT. */
  | { readonly kind: "queuedTimeout"; readonly callerId: string }
  | { readonly kind: "release"; readonly callerId: string }
  | { readonly kind: "bootDone"; readonly bootId: string }
  | { readonly kind: "crash"; readonly runnerId: string }
  | { readonly kind: "exit"; readonly runnerId: string; readonly reason: string }
  | { readonly kind: "idleAnswer"; readonly runnerId: string }
  | { readonly kind: "resize" }
  | { readonly kind: "stop" }
  | { readonly kind: "drain" };

export class SimFailure extends Error {}
