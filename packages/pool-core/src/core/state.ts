import { MinHeap } from "./heap.js";
import { LoadIndex } from "./load-index.js";
import type { BootId, CheckoutId, CoreConfig, RunnerId, ShutdownReason } from "./types.js";

/**
 * The runner lifecycle, in one table (h11-style): a runner is `booting` while its boot is
 * pending (tracked in `pendingBoots`), `ready` once up, `draining` once it takes no more
 * checkouts, and `gone` after `runnerDown` (removed from state).
 */
export const RUNNER_TRANSITIONS = {
  booting: ["ready", "gone"],
  ready: ["draining", "gone"],
  draining: ["gone"],
} as const satisfies Record<"booting" | "ready" | "draining", readonly string[]>;

export interface RunnerState {
  readonly id: RunnerId;
  isMin: boolean;
  phase: "ready" | "draining";
  load: number;
  readonly bootedAtMs: number;
  callsServed: number;
  /** Checkouts granted on this runner: the ones to fail if it dies. */
  readonly checkouts: Set<CheckoutId>;
  /** Single use: set once its one checkout was granted. */
  used: boolean;
  idleDeadlineMs: number | null;
  idleCheckPending: boolean;
  /** Why it is draining (null while ready). */
  leaving: ShutdownReason | null;
  /** Whether `shutdownRunner` was emitted (a busy surplus runner drains first). */
  shutdownSent: boolean;
}

export interface CheckoutState {
  readonly id: CheckoutId;
  readonly runnerId: RunnerId;
  childId: string | null;
}

export interface WaiterState {
  readonly id: CheckoutId;
  readonly deadlineMs: number | null;
  readonly enqueuedAtMs: number;
  /** Enqueue order, for the FIFO invariant. */
  readonly seq: number;
}

export interface PendingBoot {
  readonly id: BootId;
  readonly isMin: boolean;
}

/** Mutable, owned by whoever calls `step`. Opaque outside core/. */
export interface PoolState {
  /** As the pool was created; `limits` holds what `resize` can change. */
  readonly config: CoreConfig;
  readonly limits: { min: number; max: number };

  started: boolean;
  stopped: boolean;
  nextBootNumber: number;
  nextWaiterSeq: number;
  readonly runners: Map<RunnerId, RunnerState>;
  readonly free: LoadIndex;
  readonly pendingBoots: Map<BootId, PendingBoot>;
  /** Boots that were pending when a resize lowered `max`: allowed over `max` until they end. */
  readonly surplusBoots: Set<BootId>;
  readonly checkouts: Map<CheckoutId, CheckoutState>;
  /** FIFO: a Map iterates in insertion order. */
  readonly waiters: Map<CheckoutId, WaiterState>;
  readonly waiterDeadlines: MinHeap<CheckoutId>;
  readonly idleDeadlines: MinHeap<RunnerId>;
  retryAtMs: number | null;
}

export function initialState(config: CoreConfig): PoolState {
  return {
    config,
    limits: { min: config.min, max: config.max },
    started: false,
    stopped: false,
    nextBootNumber: 1,
    nextWaiterSeq: 1,
    runners: new Map(),
    free: new LoadIndex(),
    pendingBoots: new Map(),
    surplusBoots: new Set(),
    checkouts: new Map(),
    waiters: new Map(),
    waiterDeadlines: new MinHeap(),
    idleDeadlines: new MinHeap(),
    retryAtMs: null,
  };
}

/** Slots a runner can hold: one in its whole life when single use. */
export function capacityOf(state: PoolState, runner: RunnerState): number {
  if (state.config.singleUse) return runner.used ? 0 : 1;
  return state.config.maxConcurrency;
}

/** Runners and boots that count toward `max` (draining runners still hold resources). */
export function runnerCount(state: PoolState): number {
  return state.runners.size + state.pendingBoots.size;
}
