/**
 * What the agent's machine (machine.ts) keeps, takes and asks for: its lifecycle as one union
 * moved only by `moveAgent`, its tasks, its events in and its effects out. No I/O, no clock:
 * every instant here is a `nowMs` the driver passed in, on its monotonic clock.
 */
import type { WireError, WorkKind } from "@flame-ts/pool-core/wire";
import { checkTransition, type TransitionTable } from "./transition.js";

export interface LifecycleSettings {
  /** Where the parent is: named when the failsafe gives up on it. */
  readonly parentUrl: string;
  /** Leave (exit 2) when no welcome came from the parent within this long of starting. */
  readonly failsafeTimeoutMs: number;
  /** Leave after this long with no task; null = the parent decides. */
  readonly idleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  /** After a deadline or cancel, how long before the task's thread is terminated. */
  readonly terminateGraceMs: number;
  /**
   * How many tasks may hold a slot at once (slots.ts: the parent core's `maxConcurrency`, 1
   * for single use). A task that arrives with every slot in use waits queued.
   */
  readonly slots: number;
}

/**
 * The agent's life, one way: connecting → serving → draining → leaving (connecting and
 * serving may leave at once). Each phase holds the data that only exists in it.
 *
 * - `connecting`: dialing the parent; an attempt is in flight while `redialAtMs` is null,
 *   otherwise the next one starts then. The failsafe: at `failsafeAtMs` with no welcome, leave.
 *   It is null while an attempt reached the parent and waits only on this runner's own entry
 *   module (it said `loading`): the parent's boot deadline bounds that, by closing the link.
 * - `serving`: takes work; leaves at `idleAtMs` when set (armed while no task runs).
 * - `draining`: the parent asked it to shut down; no new work, running work gets until
 *   `drainAtMs`, children are stopped.
 * - `leaving`: an exit was decided; nothing more happens.
 */
export type AgentLife =
  | {
      readonly phase: "connecting";
      readonly failsafeAtMs: number | null;
      readonly redialAtMs: number | null;
      /** How long after the next failed attempt to dial again (doubles, up to a cap). */
      readonly backoffMs: number;
      readonly lastError: string;
    }
  | { readonly phase: "serving"; readonly idleAtMs: number | null }
  | {
      readonly phase: "draining";
      readonly reason: string;
      readonly boundMs: number;
      readonly drainAtMs: number;
    }
  | { readonly phase: "leaving" };

export type AgentPhase = AgentLife["phase"];

/** Between dial attempts: doubled after each failure, from the first to the cap. */
const DIAL_BACKOFF_START_MS = 50;
export const DIAL_BACKOFF_MAX_MS = 1_000;

export const AGENT_TRANSITIONS = {
  // A failed attempt schedules the next one: connecting → connecting.
  connecting: ["connecting", "serving", "leaving"],
  // A task re-arms or clears the idle deadline: serving → serving.
  serving: ["serving", "draining", "leaving"],
  draining: ["leaving"],
  leaving: [],
} as const satisfies TransitionTable<AgentPhase>;

/**
 * A task that arrived with every slot in use (the parent sent it one beyond its
 * `maxConcurrency`, protocol 9): it starts, oldest first, the moment a slot frees; until then
 * the parent may take it back (`unqueue`).
 */
export interface QueuedTask {
  readonly id: number;
  readonly kind: WorkKind;
  /** Counted from its receipt: the time a call waits queued is part of its timeout. */
  readonly deadlineMs: number | null;
}

/**
 * A task that started. What holds a slot, as the parent's core counts them: every task that
 * is not pinned, from its start until it is over (an answered-early one until `ended`), then,
 * when its answer kept tracked values, their group until the last one is released.
 */
export interface TaskState {
  readonly id: number;
  readonly kind: WorkKind;
  readonly deadlineMs: number | null;
  /** Pinned (`on`): it runs in its holder's slot and takes none of its own. */
  readonly pinned: boolean;
  /**
   * The parent has its answer (TIMEOUT or RUNNER_DOWN sent, or it cancelled) while the work
   * goes on: its slot stays held until the work stops, which is reported as `ended`.
   */
  answeredEarly: boolean;
  /** Its signal was aborted; terminate it if it still runs at this time. */
  terminateAtMs: number | null;
}

/** The tracked values one call's answer kept, until the parent releases the last of them. */
export interface HeldGroup {
  /** The indices not yet released. */
  readonly indices: Set<number>;
  /** The call took a slot (it was not pinned): the group keeps it until it is let go. */
  readonly holdsSlot: boolean;
}

export interface AgentState {
  readonly settings: LifecycleSettings;
  life: AgentLife;
  /** The tasks that started (running, or answered early and not yet stopped). */
  readonly tasks: Map<number, TaskState>;
  /** Tasks waiting for a slot, in arrival order (a Map iterates in insertion order). */
  readonly queued: Map<number, QueuedTask>;
  /** Slots held now: started tasks that are not pinned, and held groups that hold one. */
  slotsInUse: number;
  /** Single use: set once its one task was taken (it then takes no other, whatever the phase). */
  singleUseTaken: boolean;
  /**
   * Calls whose tracked values the runner keeps for the parent. Not tasks: but while any is
   * held the runner does not idle out, a single-use runner stays for its pinned calls, a call
   * pinned to a group not here is refused RESOURCE_GONE, and a group whose call was not pinned
   * keeps that call's slot (the parent's core does the same: the call became their holder).
   */
  readonly held: Map<number, HeldGroup>;
  /**
   * No task deadline (started or queued) or terminate time is earlier than this (null: none is
   * set). Kept as a lower bound, not exact (a task that ends leaves it stale-early), so work and
   * answers cost no scan of every task; the scan runs only once this instant passes, and
   * tightens it.
   */
  taskDueAtMs: number | null;
}

/** The agent starts connecting at `nowMs`: its first dial is due at once. */
export function initialAgentState(settings: LifecycleSettings, nowMs: number): AgentState {
  return {
    settings,
    life: {
      phase: "connecting",
      failsafeAtMs: nowMs + settings.failsafeTimeoutMs,
      redialAtMs: nowMs,
      backoffMs: DIAL_BACKOFF_START_MS,
      lastError: "no attempt made",
    },
    tasks: new Map(),
    queued: new Map(),
    slotsInUse: 0,
    singleUseTaken: false,
    held: new Map(),
    taskDueAtMs: null,
  };
}

/** The only way the agent's phase changes: throws LifecycleTransitionError on a move its table forbids. */
export function moveAgent(state: AgentState, next: AgentLife): void {
  checkTransition(AGENT_TRANSITIONS, "agent", state.life.phase, next.phase);
  state.life = next;
}

export type AgentEvent =
  /** Begin: dial the parent (the entry module loads meanwhile). */
  | { readonly type: "start" }
  /**
   * This attempt reached the parent (it proved itself and took the upgrade) and told it the
   * entry module is still loading: only the entry is awaited now, not the parent.
   */
  | { readonly type: "entryLoading" }
  /** The entry module could not be loaded: this runner can never serve. */
  | { readonly type: "entryFailed"; readonly reason: string }
  /** The parent welcomed this runner: serve it. */
  | { readonly type: "welcomed" }
  /**
   * The session took the frames that came with the welcome: idle counts from now (so an idle
   * bound of 0 never beats work the parent sent right behind its welcome).
   */
  | { readonly type: "caughtUp" }
  /** This attempt failed in a way another may not (no answer, connection refused, …). */
  | { readonly type: "unreachable"; readonly reason: string }
  /** The parent refused this runner: retrying with the same token cannot help. */
  | { readonly type: "refused"; readonly reason: string }
  | {
      readonly type: "work";
      readonly id: number;
      readonly kind: WorkKind;
      /** Calls only: how long it may run from now; null = no deadline. */
      readonly timeoutMs: number | null;
      /** Pinned calls only: the call whose tracked values it runs with. */
      readonly on?: number | undefined;
    }
  /** The parent gave up on a call (it already answered its caller). */
  | { readonly type: "cancel"; readonly id: number }
  /** The parent takes task `id` back if it has not started (a slot freed on another runner). */
  | { readonly type: "unqueue"; readonly id: number }
  | { readonly type: "stopChild"; readonly id: number }
  /**
   * A thread started queued task `id` on its own, in the slot one of its tasks just freed
   * (executor/staging.ts): it runs now, with no `run`. The driver raises it before any other
   * event once the executor saw the claim, so the machine never decides about it as queued.
   */
  | { readonly type: "started"; readonly id: number }
  /**
   * `tracked`: the indices of the values it tracked that its answer carries (kept). A task
   * still queued here was started by a thread (`started`) and ended before the machine heard.
   */
  | { readonly type: "taskEnded"; readonly id: number; readonly tracked?: readonly number[] }
  /** Tracked value `index` of call `id` is gone (released by the parent, or lost with its thread). */
  | { readonly type: "released"; readonly id: number; readonly index: number }
  | { readonly type: "shutdown"; readonly reason: string; readonly timeoutMs: number }
  /** SIGTERM/SIGINT or an in-process stop. */
  | { readonly type: "stop"; readonly reason: string }
  | { readonly type: "linkLost"; readonly reason: string }
  | { readonly type: "tick" };

/** Names of the exit codes the machine decides (the others are decided before it starts). */
export type ExitName = "OK" | "PARENT_UNREACHABLE" | "LINK_LOST" | "REFUSED" | "BAD_CONFIG";

export type AgentEffect =
  /** Start one attempt to reach the parent (the machine aborts it by leaving). */
  | { readonly type: "dial" }
  | { readonly type: "run"; readonly id: number }
  /** A thread started the queued task on its own (`started`): it is running, nothing to do. */
  | { readonly type: "claimed"; readonly id: number }
  /**
   * Every slot is in use: the task waits on this thread (so it can still be taken back); `run`
   * follows when a slot frees, unless `refuse` or `unqueued` comes first.
   */
  | { readonly type: "queued"; readonly id: number }
  /** The parent took the queued task back: tell it (`unqueued`) and forget the task. */
  | { readonly type: "unqueued"; readonly id: number }
  /** An `unqueue` came too late (the task started, or is over) or for an unknown id: log it. */
  | { readonly type: "unqueueIgnored"; readonly id: number; readonly why: string }
  /**
   * Answer it with an error: it never ran (refused on arrival, or dropped from the queue at
   * its deadline, a cancel or the runner's shutdown). No `ended` follows.
   */
  | {
      readonly type: "refuse";
      readonly id: number;
      readonly kind: WorkKind;
      readonly error: WireError;
    }
  /** The id is already running: report the parent's mistake unattached, keep the task. */
  | { readonly type: "duplicate"; readonly id: number; readonly message: string }
  /** The task is now answered early: send `error` flagged answeredEarly; `ended` follows. */
  | { readonly type: "answeredEarly"; readonly id: number; readonly error: WireError }
  | { readonly type: "abort"; readonly id: number; readonly error: WireError }
  /** The grace passed: stop its work for real (terminate its thread). */
  | { readonly type: "terminate"; readonly id: number }
  /** The task ended: send its outcome, or `ended` when it was answered early. */
  | { readonly type: "report"; readonly id: number; readonly how: "outcome" | "ended" }
  /** Its answer carried tracked values the parent will never see (answered early): dispose them. */
  | { readonly type: "discard"; readonly id: number }
  /** Exit with this code, announcing `announce` to the parent first when set. */
  | {
      readonly type: "leave";
      readonly exit: ExitName;
      readonly reason: string;
      readonly announce: string | null;
    };
