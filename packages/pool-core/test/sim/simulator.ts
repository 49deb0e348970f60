/**
 * A deterministic simulation of a whole pool (TigerBeetle's VOPR, in small): the pure core,
 * driven like the real host drives it, against a fake backend and fake callers whose every
 * choice comes from one seeded PRNG.
 *
 * Each seed picks the pool's options (maxWaiting, buffer and budget included) and a "swarm" of
 * fault rates (which kinds of trouble happen at all, and how often). A safety phase runs
 * callers, boot failures (transient and permanent), boots that hang past bootTimeout, crashes,
 * runners that ignore their shutdown (killed) or whose backend never reports the exit
 * (abandoned), runners that never answer a call (the core's backstop fails it), runners that
 * announce they are leaving, cancels, timeouts, resizes, and sometimes a drain or a stop; then a liveness
 * phase turns faults off and runs until nothing is left to do. Checked after every step: the
 * core's own invariants, and that its effects make sense to the world (a caller is settled
 * once, with a code the situation allows; nothing is granted on a runner that is going away;
 * a busy runner is never shut down except on stop; no boot starts while the budget, counted
 * here independently, is spent). At the end: every caller was resolved and the pool settled
 * at what min and buffer ask for.
 *
 * Issue 24's tracked resources too: some calls answer with tracked values (their slot is held
 * until the caller releases them), and callers pin calls to them. The world checks that a
 * pinned call runs on its holder's runner, alone on that holder, while the holder lives; that
 * RESOURCE_GONE comes only when the holder is released or gone, or its runner is leaving; and
 * that every holder is released by the end.
 */

import { MinHeap } from "../../src/core/heap.js";
import {
  type CoreConfig,
  type CoreEvent,
  checkInvariants,
  type Effect,
  initialState,
  nextDeadline,
  type PoolState,
  type RetryPolicy,
  snapshot,
  step,
} from "../../src/core/index.js";
import { Prng } from "./prng.js";

export interface SimOptions {
  readonly seed: number;
  /** Events in the safety phase (default 400). */
  readonly safetySteps?: number;
  /** Record a line per step (costs time; on for replays and failures). */
  readonly trace?: boolean;
  /** The reducer under test; tests pass a broken one to prove the checks can fail. */
  readonly step?: typeof step;
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
  };
}

/** Per-seed rates: some seeds see no crashes at all, others a storm of them. */
interface Swarm {
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

interface Caller {
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

interface FakeRunner {
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
}

type Action =
  | { readonly kind: "arrive" }
  | { readonly kind: "finish"; readonly callerId: string }
  | { readonly kind: "leave"; readonly runnerId: string }
  | { readonly kind: "cancel"; readonly callerId: string }
  | { readonly kind: "answer"; readonly callerId: string }
  | { readonly kind: "release"; readonly callerId: string }
  | { readonly kind: "bootDone"; readonly bootId: string }
  | { readonly kind: "crash"; readonly runnerId: string }
  | { readonly kind: "exit"; readonly runnerId: string; readonly reason: string }
  | { readonly kind: "idleAnswer"; readonly runnerId: string }
  | { readonly kind: "resize" }
  | { readonly kind: "stop" }
  | { readonly kind: "drain" };

class SimFailure extends Error {}

/** Bound on liveness-phase steps: a healthy pool settles in far fewer. */
const LIVENESS_STEP_LIMIT = 200_000;

function chooseConfig(rng: Prng): CoreConfig {
  const min = rng.pick([0, 0, 0, 1, 1, 2, 3]);
  const max = Math.max(1, min + rng.int(0, 4));
  return {
    name: "sim",
    runnerIdPrefix: "r",
    buffer: rng.chance(0.2) ? rng.int(1, 2) : 0,
    maxWaiting: rng.chance(0.2) ? rng.int(0, 6) : null,
    budget: rng.chance(0.2)
      ? { runnerMs: rng.pick([500, 5_000, 50_000]), windowMs: rng.pick([1_000, 10_000, 60_000]) }
      : null,
    bootTimeoutMs: rng.pick([30_000, 30_000, 2_000, 300]),
    shutdownTimeoutMs: rng.pick([30_000, 1_000, 100]),
    killGraceMs: rng.pick([5_000, 200]),
    min,
    max,
    maxConcurrency: rng.pick([1, 1, 2, 3, 8]),
    idleShutdownAfterMs: rng.chance(0.8) ? rng.int(50, 5_000) : null,
    minIdleShutdownAfterMs: rng.chance(0.15) ? rng.int(50, 5_000) : null,
    hasIdleCheck: rng.chance(0.3),
    singleUse: rng.chance(0.15),
    bootRetryDelayMs: rng.pick([1_000, 1_000, 10, 250]),
    deadlineGraceMs: rng.pick([1_000, 1_000, 0, 50]),
  };
}

function chooseSwarm(rng: Prng): Swarm {
  const maybe = (p: number, rate: number) => (rng.chance(p) ? rate : 0);
  return {
    bootFailP: maybe(0.6, rng.pick([0.05, 0.2, 0.6])),
    crashP: maybe(0.6, rng.pick([0.02, 0.1, 0.3])),
    cancelWaitingP: maybe(0.5, rng.pick([0.05, 0.3])),
    cancelRunningP: maybe(0.5, rng.pick([0.05, 0.3])),
    deadlineP: maybe(0.7, rng.pick([0.3, 0.9])),
    childP: maybe(0.3, 0.2),
    resizeP: maybe(0.3, rng.pick([0.01, 0.05])),
    stopP: maybe(0.1, 0.004),
    drainP: maybe(0.1, 0.004),
    permanentP: maybe(0.2, rng.pick([0.1, 0.5])),
    hangBootP: maybe(0.2, rng.pick([0.05, 0.3])),
    ignoreShutdownP: maybe(0.2, rng.pick([0.1, 0.5])),
    hungBackendP: maybe(0.3, 0.5),
    silentP: maybe(0.3, rng.pick([0.05, 0.3])),
    leaveP: maybe(0.3, rng.pick([0.05, 0.3])),
    idleCheckYesP: rng.pick([0.2, 0.5, 0.9]),
    retryP: maybe(0.5, rng.pick([0.3, 0.9])),
    answeredP: maybe(0.3, 0.2),
    unlinkedP: maybe(0.4, rng.pick([0.2, 0.8])),
    trackP: maybe(0.4, rng.pick([0.1, 0.4])),
    pinP: maybe(0.6, rng.pick([0.3, 0.7])),
    meanArrivalMs: rng.pick([5, 50, 500]),
    meanHoldMs: rng.pick([10, 100, 2_000]),
    meanBootMs: rng.pick([1, 100, 1_000]),
  };
}

export function runSeed(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  return sim.run();
}

class Simulation {
  readonly #seed: number;
  readonly #rng: Prng;
  readonly #config: CoreConfig;
  readonly #swarm: Swarm;
  readonly #safetySteps: number;
  readonly #tracing: boolean;
  readonly #step: typeof step;
  readonly #trace: string[] = [];
  readonly #state: PoolState;
  readonly #agenda = new MinHeap<Action>();
  #agendaSeq = 0;
  #nowMs = 0;
  #steps = 0;
  #faults = true;
  /** Stop or drain sent: POOL_STOPPED is a fair answer from then on. */
  #stopped = false;
  #stoppedReported = false;
  /** A permanent boot failure was reported since the last boot that succeeded: BOOT_FAILED is fair. */
  #permanentSeen = false;
  /** Boot starts and exits as the world saw them, to price the budget independently. */
  readonly #segments = new Map<string, { startMs: number; endMs: number | null }>();
  readonly #bootRunner = new Map<string, string>();
  readonly #abortedBoots = new Set<string>();
  readonly #callers = new Map<string, Caller>();
  readonly #runners = new Map<string, FakeRunner>();
  readonly #boots = new Set<string>();
  readonly #bootsDone = new Set<string>();
  #nextCaller = 1;
  #nextRunner = 1;
  #granted = 0;
  #timedOut = 0;
  #crashes = 0;
  readonly #rejects: Record<string, number> = {};
  #kills = 0;
  #abandoned = 0;
  #backstops = 0;
  #leaves = 0;
  #retries = 0;
  #holders = 0;
  #pinned = 0;
  /** Callers `holding` now (kept so picking one is not a scan of every caller). */
  readonly #liveHolders = new Set<string>();
  readonly #unlinkedWaitAt = new Map<string, number>();

  constructor(options: SimOptions) {
    this.#seed = options.seed;
    this.#rng = new Prng(options.seed);
    this.#config = chooseConfig(this.#rng);
    this.#swarm = chooseSwarm(this.#rng);
    this.#safetySteps = options.safetySteps ?? 400;
    this.#tracing = options.trace ?? false;
    this.#step = options.step ?? step;
    this.#state = initialState(this.#config);
    this.#log(() => `config ${JSON.stringify(this.#config)}`);
    this.#log(() => `swarm ${JSON.stringify(this.#swarm)}`);
  }

  run(): SimResult {
    try {
      this.#apply({ type: "start" });
      this.#schedule(this.#delay(this.#swarm.meanArrivalMs), { kind: "arrive" });
      if (this.#swarm.resizeP > 0) this.#schedule(this.#rng.int(0, 5_000), { kind: "resize" });
      while (this.#steps < this.#safetySteps && this.#advance()) {}
      this.#faults = false;
      this.#log(() => `--- liveness phase at step ${this.#steps}, t=${this.#nowMs}`);
      const limit = this.#steps + LIVENESS_STEP_LIMIT;
      while (this.#advance()) {
        if (this.#steps > limit)
          this.#fail(`liveness: not settled after ${LIVENESS_STEP_LIMIT} steps`);
      }
      this.#checkSettled();
      return this.#result(null);
    } catch (error) {
      if (error instanceof SimFailure) return this.#result(error.message);
      return this.#result(error instanceof Error ? (error.stack ?? error.message) : String(error));
    }
  }

  // ---- the host loop: one event at a time, one timer at nextDeadline -----------------------

  /** Processes the next agenda action or core deadline; false when nothing is left. */
  #advance(): boolean {
    const deadline = nextDeadline(this.#state);
    const agendaKey = this.#agenda.peekKey();
    const agendaAt = agendaKey === undefined ? null : Math.floor(agendaKey / AGENDA_SEQ_SPAN);
    if (deadline === null && agendaAt === null) return false;
    if (deadline !== null && (agendaAt === null || deadline <= agendaAt)) {
      this.#nowMs = deadline;
      this.#apply({ type: "tick" });
      return true;
    }
    const action = this.#agenda.pop() as Action;
    this.#nowMs = agendaAt as number;
    this.#perform(action);
    return true;
  }

  #apply(event: CoreEvent): void {
    this.#steps += 1;
    if (event.type === "bootFailed" && event.permanent) this.#permanentSeen = true;
    if (event.type === "bootSucceeded") this.#permanentSeen = false;
    const { effects } = this.#step(this.#state, event, this.#nowMs);
    this.#log(
      () =>
        `${this.#steps} t=${this.#nowMs} ${describeEvent(event)} -> ${describeEffects(effects)}`,
    );
    try {
      checkInvariants(this.#state);
    } catch (error) {
      this.#fail(String(error));
    }
    const deadline = nextDeadline(this.#state);
    if (deadline !== null && deadline <= this.#nowMs) {
      this.#fail(`nextDeadline ${deadline} is not after now ${this.#nowMs}`);
    }
    for (const effect of effects) this.#carryOut(effect);
  }

  /** What the host does with an effect; results come back later through the agenda. */
  #carryOut(effect: Effect): void {
    switch (effect.type) {
      case "grant": {
        const caller = this.#caller(effect.checkoutId);
        if (caller.status !== "waiting")
          this.#fail(`grant to ${caller.id} in state ${caller.status}`);
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined || !runner.alive)
          this.#fail(`grant on dead runner ${effect.runnerId}`);
        if (runner.shutdownRequested) this.#fail(`grant on runner ${runner.id} being shut down`);
        if (runner.leaving) this.#fail(`grant on runner ${runner.id}, which announced leaving`);
        // A retry never extends a call: every attempt ends by the caller's first deadline.
        const until = effect.runDeadlineMs;
        if (caller.retries > 0 && caller.deadlineMs !== null) {
          if (until === null || until > caller.deadlineMs) {
            this.#fail(`retried ${caller.id} granted until ${until}, past ${caller.deadlineMs}`);
          }
        }
        if (caller.on !== null) this.#checkPinnedGrant(caller, caller.on, runner.id);
        caller.status = "granted";
        caller.runnerId = runner.id;
        caller.runDeadlineMs = effect.runDeadlineMs;
        this.#granted += 1;
        if (caller.on === null && this.#rng.chance(this.#swarm.childP)) {
          caller.child = true;
          this.#apply({
            type: "convertToChild",
            checkoutId: caller.id,
            childId: `child-${caller.id}`,
          });
        }
        const silent =
          this.#faults && effect.runDeadlineMs !== null && this.#rng.chance(this.#swarm.silentP);
        // A silent runner never answers: the core's backstop must fail the call.
        if (!silent) {
          this.#schedule(this.#delay(this.#swarm.meanHoldMs), {
            kind: "finish",
            callerId: caller.id,
          });
          if (caller.retry !== null && this.#rng.chance(this.#swarm.answeredP)) {
            this.#schedule(this.#delay(this.#swarm.meanHoldMs), {
              kind: "answer",
              callerId: caller.id,
            });
          }
        }
        if (this.#faults && this.#rng.chance(this.#swarm.cancelRunningP)) {
          this.#schedule(this.#delay(this.#swarm.meanHoldMs), {
            kind: "cancel",
            callerId: caller.id,
          });
        }
        return;
      }
      case "reject": {
        const caller = this.#caller(effect.checkoutId);
        if (caller.status !== "waiting")
          this.#fail(`reject of ${caller.id} in state ${caller.status}`);
        this.#checkRejection(caller, effect.error.code);
        this.#rejects[effect.error.code] = (this.#rejects[effect.error.code] ?? 0) + 1;
        caller.status = "rejected";
        return;
      }
      case "failCheckout": {
        const caller = this.#caller(effect.checkoutId);
        if (effect.answeredEarly === true) {
          this.#backstopFired(caller, effect.error.code);
          return;
        }
        if (!this.#holdsSlot(caller))
          this.#fail(`failCheckout of ${caller.id} in ${caller.status}`);
        const runner = this.#runners.get(caller.runnerId ?? "");
        if (runner?.alive !== false && runner?.abandoned !== true) {
          this.#fail(`failCheckout of ${caller.id}: its runner is up`);
        }
        if (!this.#state.stopped && this.#retryAllowed(caller)) {
          this.#fail(`${caller.id} failed with a retry left`);
        }
        // A pinned call failed with its runner: its holder is failed next, in the same step.
        caller.status = "failed";
        this.#liveHolders.delete(caller.id);
        return;
      }
      case "retryCheckout": {
        const caller = this.#caller(effect.checkoutId);
        if (!this.#retryAllowed(caller)) {
          this.#fail(`retry of ${caller.id} (${caller.status}, ${caller.retries} retries)`);
        }
        const runner = this.#runners.get(caller.runnerId ?? "");
        if (runner?.alive !== false && runner?.abandoned !== true) {
          this.#fail(`retry of ${caller.id}: its runner is up`);
        }
        if (effect.attempt !== caller.retries + 1) {
          this.#fail(`retry of ${caller.id} numbered ${effect.attempt} after ${caller.retries}`);
        }
        caller.status = "waiting";
        caller.runnerId = null;
        caller.retries += 1;
        this.#retries += 1;
        return;
      }
      case "boot": {
        if (this.#boots.has(effect.bootId)) this.#fail(`boot id ${effect.bootId} reused`);
        if (this.#state.stopped) this.#fail(`boot ${effect.bootId} after stop`);
        const budget = this.#config.budget;
        if (budget !== null) {
          const spent = this.#spentMs();
          if (spent >= budget.runnerMs) {
            this.#fail(
              `boot ${effect.bootId} started with ${spent} ms of ${budget.runnerMs} spent`,
            );
          }
        }
        if (this.#segments.has(effect.runnerId)) this.#fail(`runner id ${effect.runnerId} reused`);
        this.#segments.set(effect.runnerId, { startMs: this.#nowMs, endMs: null });
        this.#bootRunner.set(effect.bootId, effect.runnerId);
        this.#boots.add(effect.bootId);
        if (this.#faults && this.#rng.chance(this.#swarm.hangBootP)) return; // never says hello
        this.#schedule(this.#delay(this.#swarm.meanBootMs), {
          kind: "bootDone",
          bootId: effect.bootId,
        });
        return;
      }
      case "abortBoot": {
        if (!this.#boots.has(effect.bootId) || this.#bootsDone.has(effect.bootId)) {
          this.#fail(`abortBoot of ${effect.bootId}, which is not in flight`);
        }
        this.#abortedBoots.add(effect.bootId);
        this.#bootsDone.add(effect.bootId);
        this.#endSegment(effect.runnerId);
        return;
      }
      case "killRunner": {
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined || !runner.alive)
          this.#fail(`kill of dead runner ${effect.runnerId}`);
        if (!runner.shutdownRequested && !runner.leaving) {
          this.#fail(`kill of ${runner.id} before its shutdown`);
        }
        this.#kills += 1;
        if (runner.hung && this.#faults) return; // the backend never reports the exit
        this.#schedule(this.#rng.int(0, 100), {
          kind: "exit",
          runnerId: runner.id,
          reason: "killed",
        });
        return;
      }
      case "stopped":
        if (this.#stoppedReported) this.#fail("stopped reported twice");
        if (!this.#state.stopped) this.#fail("stopped reported by a running pool");
        this.#stoppedReported = true;
        return;
      case "shutdownRunner": {
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined || !runner.alive)
          this.#fail(`shutdown of dead runner ${effect.runnerId}`);
        if (runner.shutdownRequested) this.#fail(`second shutdown of runner ${runner.id}`);
        if (runner.leaving) this.#fail(`shutdown sent to ${runner.id}, which announced leaving`);
        // Stop and an operator's drain ask a busy runner to leave (it finishes its calls).
        if (effect.reason !== "stop" && effect.reason !== "operator" && this.#busy(runner.id)) {
          this.#fail(`shutdown (${effect.reason}) of busy runner ${runner.id}`);
        }
        if (effect.reason === "stop") this.#checkUnlinkedWaited(runner.id);
        runner.shutdownRequested = true;
        if (runner.stubborn && this.#faults) return; // exits only when killed
        // The real host drains in-flight calls first (shutdownTimeout); callers still on it
        // finish on their own schedule and the runner exits soon after.
        this.#schedule(this.#rng.int(0, 200), {
          kind: "exit",
          runnerId: runner.id,
          reason: effect.reason,
        });
        return;
      }
      case "checkIdle": {
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined || !runner.alive)
          this.#fail(`checkIdle of dead runner ${effect.runnerId}`);
        this.#schedule(this.#rng.int(0, 50), { kind: "idleAnswer", runnerId: runner.id });
        return;
      }
      case "forgetRunner": {
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined) this.#fail(`forgetRunner of unknown runner ${effect.runnerId}`);
        if (!runner.hung) this.#fail(`forgetRunner of ${runner.id}, whose exit would be reported`);
        runner.abandoned = true;
        this.#abandoned += 1;
        this.#endSegment(runner.id);
        // The core failed what was still on it; the sim's callers learn it via failCheckout.
        return;
      }
      case "telemetry":
        if (effect.event.type === "unlinkedWait") {
          const held = this.#unlinkedOn(effect.event.runnerId);
          if (effect.event.unlinked !== held) {
            this.#fail(`unlinkedWait of ${effect.event.unlinked} on a runner running ${held}`);
          }
          this.#unlinkedWaitAt.set(effect.event.runnerId, this.#nowMs);
        }
        return;
    }
  }

  /** Unlinked work on a runner (its callers may be gone; the slot is held until it ends). */
  #unlinkedOn(runnerId: string): number {
    let n = 0;
    for (const c of this.#callers.values()) {
      const holds = c.status === "granted" || c.status === "answeredEarly";
      if (holds && c.unlinked && c.runnerId === runnerId) n += 1;
    }
    return n;
  }

  /** At stop, a runner running unlinked work is asked to leave only after shutdownTimeout. */
  #checkUnlinkedWaited(runnerId: string): void {
    if (this.#unlinkedOn(runnerId) === 0) return;
    const since = this.#unlinkedWaitAt.get(runnerId);
    if (since === undefined || this.#nowMs < since + this.#config.shutdownTimeoutMs) {
      this.#fail(
        `shut down ${runnerId} at stop while it runs unlinked work (waited since ${since})`,
      );
    }
  }

  /**
   * The backstop: only for a call granted with a run deadline, never before that deadline
   * plus the grace. The caller is answered; the slot stays held until the work stops, which a
   * silent runner's agent reports later (its thread terminated).
   */
  #backstopFired(caller: Caller, code: string): void {
    // Answered by its runner already (the host ignores the backstop's late verdict).
    if (caller.status === "answeredEarly" && caller.retry !== null) return;
    if (caller.status !== "granted") this.#fail(`backstop of ${caller.id} in ${caller.status}`);
    if (code !== "TIMEOUT") this.#fail(`backstop of ${caller.id} with ${code}`);
    const due = caller.runDeadlineMs;
    if (due === null || due + this.#config.deadlineGraceMs > this.#nowMs) {
      this.#fail(`backstop of ${caller.id} at ${this.#nowMs}, run deadline ${due}`);
    }
    caller.status = "answeredEarly";
    this.#backstops += 1;
    this.#schedule(this.#rng.int(0, 2_000), { kind: "finish", callerId: caller.id });
  }

  /**
   * Whether the core may retry this caller now that its runner died: a call (not a child) with
   * retries left whose caller was not answered, and whose backoff ends before its deadline.
   */
  #retryAllowed(caller: Caller): boolean {
    const retry = caller.retry;
    if (retry === null || caller.child || caller.on !== null || caller.status !== "granted") {
      return false;
    }
    if (caller.retries >= retry.runnerDown) return false;
    return caller.deadlineMs === null || this.#nowMs + retry.backoffMs < caller.deadlineMs;
  }

  /** A reject's code must be one the situation allows. */
  #checkRejection(caller: Caller, code: string): void {
    switch (code) {
      case "TIMEOUT":
        if (caller.deadlineMs === null || caller.deadlineMs > this.#nowMs) {
          this.#fail(`${caller.id} timed out before its deadline ${caller.deadlineMs}`);
        }
        this.#timedOut += 1;
        return;
      case "POOL_STOPPED":
        if (!this.#stopped) this.#fail(`POOL_STOPPED for ${caller.id} while running`);
        return;
      case "OVERLOADED": {
        const waiting = [...this.#callers.values()].filter((c) => c.status === "waiting").length;
        // The caller itself is counted as waiting here.
        if (this.#config.maxWaiting === null || waiting - 1 < this.#config.maxWaiting) {
          this.#fail(`OVERLOADED for ${caller.id} with ${waiting - 1} waiting`);
        }
        return;
      }
      case "BUDGET_EXHAUSTED": {
        const budget = this.#config.budget;
        if (budget === null || this.#spentMs() < budget.runnerMs) {
          this.#fail(`BUDGET_EXHAUSTED for ${caller.id} with budget left`);
        }
        return;
      }
      case "RESOURCE_GONE":
        if (caller.on === null) this.#fail(`RESOURCE_GONE for ${caller.id}, pinned to nothing`);
        if (this.#holderServes(caller.on)) {
          this.#fail(`RESOURCE_GONE for ${caller.id} while its holder ${caller.on} serves`);
        }
        return;
      case "BOOT_FAILED":
        if (!this.#permanentSeen) {
          this.#fail(`BOOT_FAILED for ${caller.id} without a permanent failure`);
        }
        return;
      default:
        this.#fail(`unexpected reject ${code} of ${caller.id}`);
    }
  }

  /** Runner time in the budget window, from the world's own records. */
  #spentMs(): number {
    const windowMs = this.#config.budget?.windowMs ?? 0;
    const from = this.#nowMs - windowMs;
    let spent = 0;
    for (const seg of this.#segments.values()) {
      const end = seg.endMs ?? this.#nowMs;
      if (end > from) spent += end - Math.max(seg.startMs, from);
    }
    return spent;
  }

  #endSegment(runnerId: string): void {
    const seg = this.#segments.get(runnerId);
    if (seg !== undefined && seg.endMs === null) seg.endMs = this.#nowMs;
  }

  /** The world moves: callers, the fake backend, and the operator. */
  #perform(action: Action): void {
    switch (action.kind) {
      case "arrive": {
        if (!this.#faults) return; // the liveness phase lets the last callers drain
        const id = `c${this.#nextCaller++}`;
        const timeoutMs = this.#rng.chance(this.#swarm.deadlineP) ? this.#rng.int(0, 3_000) : null;
        const deadlineMs = timeoutMs === null ? null : this.#nowMs + timeoutMs;
        const retry: RetryPolicy | null = this.#rng.chance(this.#swarm.retryP)
          ? { runnerDown: this.#rng.int(1, 3), backoffMs: this.#rng.pick([0, 10, 500]) }
          : null;
        // Pinned calls take no retry and are never unlinked (the host refuses both).
        const on = this.#rng.chance(this.#swarm.pinP) ? this.#pickHolder() : null;
        const caller: Caller = {
          id,
          status: "waiting",
          deadlineMs,
          runnerId: null,
          runDeadlineMs: null,
          retry: on === null ? retry : null,
          retries: 0,
          child: false,
          unlinked: on === null && this.#rng.chance(this.#swarm.unlinkedP),
          on,
        };
        this.#callers.set(id, caller);
        if (this.#rng.chance(this.#swarm.cancelWaitingP)) {
          this.#schedule(this.#rng.int(0, 2_000), { kind: "cancel", callerId: id });
        }
        this.#schedule(this.#delay(this.#swarm.meanArrivalMs), { kind: "arrive" });
        if (this.#faults && this.#rng.chance(this.#swarm.stopP))
          this.#schedule(0, { kind: "stop" });
        if (this.#faults && this.#rng.chance(this.#swarm.drainP))
          this.#schedule(0, { kind: "drain" });
        this.#apply({
          type: "checkout",
          checkoutId: id,
          timeoutMs,
          ...(caller.retry === null ? {} : { retry: caller.retry }),
          ...(caller.unlinked ? { unlinked: true as const } : {}),
          ...(on === null ? {} : { on }),
        });
        return;
      }
      case "answer": {
        // Its runner answered early (ABORTED, TIMEOUT) and still runs it: the slot stays held
        // until the scheduled finish, and a runner loss now must not run it again.
        const caller = this.#caller(action.callerId);
        if (caller.status !== "granted" || caller.child) return;
        caller.status = "answeredEarly";
        this.#apply({ type: "answered", checkoutId: caller.id });
        return;
      }
      case "finish": {
        const caller = this.#caller(action.callerId);
        // It failed or went away first. Answered early: the work stopped now.
        if (caller.status !== "granted" && caller.status !== "answeredEarly") return;
        const tracks =
          caller.status === "granted" &&
          caller.on === null &&
          !caller.child &&
          this.#rng.chance(this.#swarm.trackP);
        if (tracks) {
          // Answered with tracked values: the caller holds them until it releases them.
          caller.status = "holding";
          this.#liveHolders.add(caller.id);
          this.#holders += 1;
          this.#apply({ type: "convertToTracked", checkoutId: caller.id });
          this.#schedule(this.#delay(this.#swarm.meanHoldMs * 4), {
            kind: "release",
            callerId: caller.id,
          });
          return;
        }
        caller.status = "done";
        // A holder released meanwhile ends with this call, in the same step.
        this.#pinnedEnded(caller);
        const reason = this.#rng.pick(["done", "done", "error", "timeout"] as const);
        this.#apply({ type: "checkin", checkoutId: caller.id, reason });
        return;
      }
      case "release": {
        // Every handle released (or collected): the host checks the holder in.
        const caller = this.#caller(action.callerId);
        if (caller.status !== "holding") return; // its runner went first
        this.#liveHolders.delete(caller.id);
        caller.status = this.#runningOn(caller.id) === undefined ? "done" : "releasing";
        this.#apply({ type: "checkin", checkoutId: caller.id, reason: "done" });
        return;
      }
      case "cancel": {
        const caller = this.#caller(action.callerId);
        if (caller.status !== "waiting" && caller.status !== "granted") return;
        // Unlinked: the host answers the caller and keeps the work (nothing reaches the core).
        if (caller.unlinked) return;
        const wasGranted = caller.status === "granted";
        caller.status = "gone";
        if (wasGranted) this.#pinnedEnded(caller);
        this.#apply({ type: "callerGone", checkoutId: caller.id });
        return;
      }
      case "bootDone": {
        // Given up on by the core: the host stops what the backend started, reports nothing.
        if (this.#abortedBoots.has(action.bootId)) return;
        this.#bootsDone.add(action.bootId);
        const runnerId = this.#bootRunner.get(action.bootId) as string;
        if (this.#faults && this.#rng.chance(this.#swarm.bootFailP)) {
          const permanent = this.#rng.chance(this.#swarm.permanentP);
          this.#endSegment(runnerId);
          this.#apply({ type: "bootFailed", bootId: action.bootId, error: "simulated", permanent });
          return;
        }
        this.#nextRunner += 1;
        this.#runners.set(runnerId, {
          id: runnerId,
          alive: true,
          shutdownRequested: false,
          stubborn: this.#rng.chance(this.#swarm.ignoreShutdownP),
          hung: this.#rng.chance(this.#swarm.hungBackendP),
          abandoned: false,
          leaving: false,
        });
        if (this.#rng.chance(this.#swarm.crashP)) {
          this.#schedule(this.#delay(this.#swarm.meanHoldMs * 3), { kind: "crash", runnerId });
        }
        if (this.#rng.chance(this.#swarm.leaveP)) {
          this.#schedule(this.#delay(this.#swarm.meanHoldMs * 3), { kind: "leave", runnerId });
        }
        this.#apply({ type: "bootSucceeded", bootId: action.bootId });
        return;
      }
      case "crash": {
        const runner = this.#runners.get(action.runnerId);
        if (!this.#faults || runner === undefined || !runner.alive) return;
        runner.alive = false;
        this.#crashes += 1;
        this.#endSegment(runner.id);
        this.#apply({ type: "runnerDown", runnerId: runner.id, reason: "crashed" });
        return;
      }
      case "leave": {
        // The agent announces, then exits (a failsafe or fatal error may leave work behind).
        const runner = this.#runners.get(action.runnerId);
        if (!this.#faults || runner === undefined || !runner.alive || runner.leaving) return;
        if (runner.shutdownRequested) return; // already on its way out at the pool's request
        runner.leaving = true;
        this.#leaves += 1;
        this.#apply({ type: "runnerLeaving", runnerId: runner.id, reason: "failsafe" });
        if (runner.stubborn) return; // never exits by itself: the core must kill it
        this.#schedule(this.#rng.int(0, 300), {
          kind: "exit",
          runnerId: runner.id,
          reason: "announced",
        });
        return;
      }
      case "exit": {
        const runner = this.#runners.get(action.runnerId);
        if (runner === undefined || !runner.alive) return;
        const mayBeBusy = ["stop", "operator", "killed", "announced"].includes(action.reason);
        if (this.#busy(runner.id) && !mayBeBusy) {
          this.#fail(`runner ${runner.id} exits (${action.reason}) with callers on it`);
        }
        runner.alive = false;
        this.#endSegment(runner.id);
        this.#apply({ type: "runnerDown", runnerId: runner.id, reason: action.reason });
        return;
      }
      case "idleAnswer": {
        const yes = !this.#faults || this.#rng.chance(this.#swarm.idleCheckYesP);
        this.#apply({ type: "idleChecked", runnerId: action.runnerId, shutdown: yes });
        return;
      }
      case "resize": {
        if (!this.#faults) return;
        const min = this.#rng.pick([0, 0, 1, 2, 3]);
        const max = Math.max(1, min + this.#rng.int(0, 4));
        // About one resize per 1/resizeP arrivals.
        this.#schedule(this.#delay(this.#swarm.meanArrivalMs / this.#swarm.resizeP), {
          kind: "resize",
        });
        const buffer = Math.min(max, this.#rng.pick([0, 0, 0, 1, 2]));
        this.#apply({ type: "resize", min, max, buffer });
        // Now and then an operator drains one runner (the dashboard's action).
        const ids = [...this.#runners.values()].filter((r) => r.alive && !r.abandoned);
        if (ids.length > 0 && this.#rng.chance(0.3)) {
          const runnerId = (ids[this.#rng.int(0, ids.length - 1)] as FakeRunner).id;
          this.#apply({ type: "drainRunner", runnerId });
        }
        return;
      }
      case "stop":
        this.#stopped = true;
        this.#apply({ type: "stop" });
        return;
      case "drain":
        this.#stopped = true;
        this.#apply({ type: "drain", timeoutMs: this.#rng.pick([null, 500, 5_000]) });
        return;
    }
  }

  // ---- final checks ------------------------------------------------------------------------

  #checkSettled(): void {
    for (const caller of this.#callers.values()) {
      if (caller.status === "waiting" || this.#holdsSlot(caller)) {
        this.#fail(`liveness: caller ${caller.id} never resolved (${caller.status})`);
      }
    }
    for (const bootId of this.#boots) {
      if (!this.#bootsDone.has(bootId)) this.#fail(`liveness: boot ${bootId} never finished`);
    }
    const snap = snapshot(this.#state, this.#nowMs);
    if (snap.waiting !== 0 || snap.pendingBoots !== 0) {
      this.#fail(`liveness: ${snap.waiting} waiting, ${snap.pendingBoots} pending boots at rest`);
    }
    const alive = [...this.#runners.values()]
      .filter((r) => r.alive && !r.abandoned)
      .map((r) => r.id);
    const tracked = snap.runners.map((r) => r.id);
    if (alive.join() !== tracked.join()) {
      this.#fail(`liveness: backend runs [${alive}] but the pool tracks [${tracked}]`);
    }
    if (snap.runners.some((r) => r.state !== "ready" || r.inflight !== 0)) {
      this.#fail(`liveness: runners not idle and ready at rest: ${JSON.stringify(snap.runners)}`);
    }
    const expected = this.#expectedAtRest(snap.min);
    const count = snap.runners.length;
    if (count < expected.low || count > expected.high) {
      this.#fail(`liveness: ${count} runners at rest, expected ${expected.low}..${expected.high}`);
    }
  }

  /**
   * Runners a pool at rest keeps: `min` (unless idle shutdown applies to min runners too), or
   * `buffer` idle ones if more. Fewer when boots may have been refused (a budget, or a
   * permanent failure that no later demand lifted).
   */
  #expectedAtRest(min: number): { low: number; high: number } {
    if (this.#stopped) {
      if (!this.#stoppedReported) this.#fail("liveness: the pool stopped but never said so");
      return { low: 0, high: 0 };
    }
    const limits = this.#state.limits;
    const buffer = Math.min(limits.buffer, limits.max);
    const minStay = this.#config.minIdleShutdownAfterMs === null;
    const kept = Math.max(minStay ? min : 0, buffer);
    const refused = this.#config.budget !== null || this.#state.bootsBlockedBy !== null;
    const low = refused ? 0 : kept;
    if (this.#config.idleShutdownAfterMs === null) return { low, high: limits.max };
    return { low, high: kept };
  }

  // ---- helpers -----------------------------------------------------------------------------

  #busy(runnerId: string): boolean {
    for (const caller of this.#callers.values()) {
      if (this.#holdsSlot(caller) && caller.runnerId === runnerId) return true;
    }
    return false;
  }

  /** Granted and not ended: running, answered early, or holding tracked values. */
  #holdsSlot(caller: Caller): boolean {
    const s = caller.status;
    return s === "granted" || s === "answeredEarly" || s === "holding" || s === "releasing";
  }

  // ---- tracked resources (issue 24) ----------------------------------------------------------

  /**
   * A holder to pin a new call to: a live one mostly; now and then any earlier call (released,
   * gone, or one that holds nothing); null (not pinned) when no holder is live.
   */
  #pickHolder(): string | null {
    if (this.#callers.size > 0 && this.#rng.chance(0.1)) {
      return `c${this.#rng.int(1, this.#callers.size)}`;
    }
    if (this.#liveHolders.size === 0) return null;
    const pick = this.#rng.int(0, this.#liveHolders.size - 1);
    let i = 0;
    for (const id of this.#liveHolders) if (i++ === pick) return id;
    return null;
  }

  /** The pinned call of `holderId` running now (granted or answered early), if any. */
  #runningOn(holderId: string): Caller | undefined {
    for (const c of this.#callers.values()) {
      if (c.on === holderId && (c.status === "granted" || c.status === "answeredEarly")) return c;
    }
    return undefined;
  }

  /** Whether holder `holderId` must still take pinned calls: held, on a runner staying up. */
  #holderServes(holderId: string): boolean {
    const holder = this.#callers.get(holderId);
    if (holder?.status !== "holding") return false;
    const runner = this.#runners.get(holder.runnerId ?? "");
    return (
      runner?.alive === true && !runner.abandoned && !runner.leaving && !runner.shutdownRequested
    );
  }

  #checkPinnedGrant(caller: Caller, holderId: string, runnerId: string): void {
    const holder = this.#callers.get(holderId);
    if (holder === undefined || (holder.status !== "holding" && holder.status !== "releasing")) {
      this.#fail(`pinned ${caller.id} granted on ${holderId}, which holds nothing`);
    }
    if (holder.runnerId !== runnerId) {
      this.#fail(`pinned ${caller.id} granted on ${runnerId}, its holder is on ${holder.runnerId}`);
    }
    const other = this.#runningOn(holderId);
    if (other !== undefined) {
      this.#fail(`pinned ${caller.id} granted while ${other.id} runs on holder ${holderId}`);
    }
    this.#pinned += 1;
  }

  /** A pinned call ended: a holder released meanwhile ends with it. */
  #pinnedEnded(caller: Caller): void {
    if (caller.on === null) return;
    const holder = this.#callers.get(caller.on);
    if (holder?.status === "releasing" && this.#runningOn(holder.id) === undefined) {
      holder.status = "done";
    }
  }

  #caller(id: string): Caller {
    const caller = this.#callers.get(id);
    if (caller === undefined) this.#fail(`effect for unknown caller ${id}`);
    return caller;
  }

  /** An exponential-ish delay with the given mean, as whole milliseconds. */
  #delay(meanMs: number): number {
    return Math.floor(-Math.log(1 - this.#rng.next()) * meanMs);
  }

  #schedule(afterMs: number, action: Action): void {
    const at = this.#nowMs + Math.max(0, afterMs);
    this.#agenda.push(at * AGENDA_SEQ_SPAN + (this.#agendaSeq++ % AGENDA_SEQ_SPAN), action);
  }

  #log(line: () => string): void {
    if (this.#tracing) this.#trace.push(line());
  }

  #fail(message: string): never {
    throw new SimFailure(message);
  }

  #result(error: string | null): SimResult {
    return {
      seed: this.#seed,
      ok: error === null,
      failedAtStep: error === null ? null : this.#steps,
      error,
      trace: this.#trace,
      stats: {
        steps: this.#steps,
        callers: this.#callers.size,
        granted: this.#granted,
        timedOut: this.#timedOut,
        runnersBooted: this.#runners.size,
        crashes: this.#crashes,
        rejects: this.#rejects,
        kills: this.#kills,
        abandoned: this.#abandoned,
        abortedBoots: this.#abortedBoots.size,
        bufferBoots: this.#config.buffer > 0 ? this.#boots.size : 0,
        backstops: this.#backstops,
        leaves: this.#leaves,
        retries: this.#retries,
        holders: this.#holders,
        pinned: this.#pinned,
      },
    };
  }
}

/**
 * Agenda keys pack (time, insertion order) into one number so equal times run in the order
 * they were scheduled. Times stay far below 2^53 / AGENDA_SEQ_SPAN (≈ 9e8 ms) in any run.
 */
const AGENDA_SEQ_SPAN = 10_000_000;

function describeEvent(event: CoreEvent): string {
  const { type, ...rest } = event;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${String(v)}`);
  return [type, ...fields].join(" ");
}

function describeEffects(effects: readonly Effect[]): string {
  const parts = effects.map(describeEffect).filter((part) => part !== null);
  return parts.length === 0 ? "-" : parts.join(", ");
}

/** One effect as a trace fragment; telemetry is left out of traces (null). */
function describeEffect(e: Effect): string | null {
  switch (e.type) {
    case "grant":
      return `grant ${e.checkoutId}@${e.runnerId} until ${e.runDeadlineMs}`;
    case "reject":
      return `reject ${e.checkoutId} ${e.error.code}`;
    case "failCheckout":
      return `fail ${e.checkoutId} ${e.error.code}${e.answeredEarly ? " (slot held)" : ""}`;
    case "boot":
      return `boot ${e.bootId}=${e.runnerId}${e.isMin ? " min" : ""}`;
    case "abortBoot":
      return `abortBoot ${e.bootId}`;
    case "killRunner":
      return `kill ${e.runnerId}`;
    case "forgetRunner":
      return `forget ${e.runnerId}`;
    case "stopped":
      return "stopped";
    case "shutdownRunner":
      return `shutdown ${e.runnerId} ${e.reason}`;
    case "checkIdle":
      return `checkIdle ${e.runnerId}`;
    case "retryCheckout":
      return `retry ${e.checkoutId} #${e.attempt} at ${e.retryAtMs}`;
    case "telemetry":
      return null;
  }
}

/** A failure report: the seed and step to replay, the error, and the end of the trace. */
export function formatFailure(result: SimResult, traceLines = 60): string {
  const tail = result.trace.slice(-traceLines);
  return [
    `SEED=${result.seed} STEP=${result.failedAtStep}: ${result.error}`,
    `replay: npm run sim -- --seed ${result.seed}`,
    ...(tail.length > 0 ? ["trace (last steps):", ...tail] : []),
  ].join("\n");
}
