/**
 * A deterministic simulation of a whole pool (TigerBeetle's VOPR, in small): the pure core,
 * driven like the real host drives it, against a fake backend and fake callers whose every
 * choice comes from one seeded PRNG.
 *
 * Each seed picks the pool's options and a "swarm" of fault rates (which kinds of trouble
 * happen at all, and how often). A safety phase runs callers, boot failures, crashes, cancels,
 * timeouts, resizes and sometimes a stop; then a liveness phase turns faults off and runs until
 * nothing is left to do. Checked after every step: the core's own invariants, and that its
 * effects make sense to the world (a caller is settled once, nothing is granted on a runner
 * that is going away, a busy runner is never shut down except on stop). At the end: every
 * caller was resolved and the pool settled at `min` (or 0 when min runners idle out too).
 */

import { MinHeap } from "../../src/core/heap.js";
import {
  type CoreConfig,
  checkInvariants,
  type Effect,
  initialState,
  nextDeadline,
  type PoolEvent,
  type PoolState,
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
  readonly idleCheckYesP: number;
  readonly meanArrivalMs: number;
  readonly meanHoldMs: number;
  readonly meanBootMs: number;
}

type CallerStatus = "new" | "waiting" | "granted" | "done" | "rejected" | "failed" | "gone";

interface Caller {
  readonly id: string;
  status: CallerStatus;
  deadlineMs: number | null;
  runnerId: string | null;
}

interface FakeRunner {
  readonly id: string;
  alive: boolean;
  shutdownRequested: boolean;
}

type Action =
  | { readonly kind: "arrive" }
  | { readonly kind: "finish"; readonly callerId: string }
  | { readonly kind: "cancel"; readonly callerId: string }
  | { readonly kind: "bootDone"; readonly bootId: string }
  | { readonly kind: "crash"; readonly runnerId: string }
  | { readonly kind: "exit"; readonly runnerId: string; readonly reason: string }
  | { readonly kind: "idleAnswer"; readonly runnerId: string }
  | { readonly kind: "resize" }
  | { readonly kind: "stop" };

class SimFailure extends Error {}

/** Bound on liveness-phase steps: a healthy pool settles in far fewer. */
const LIVENESS_STEP_LIMIT = 200_000;

export function chooseConfig(rng: Prng): CoreConfig {
  const min = rng.pick([0, 0, 0, 1, 1, 2, 3]);
  const max = Math.max(1, min + rng.int(0, 4));
  return {
    name: "sim",
    min,
    max,
    maxConcurrency: rng.pick([1, 1, 2, 3, 8]),
    idleShutdownAfterMs: rng.chance(0.8) ? rng.int(50, 5_000) : null,
    minIdleShutdownAfterMs: rng.chance(0.15) ? rng.int(50, 5_000) : null,
    hasIdleCheck: rng.chance(0.3),
    singleUse: rng.chance(0.15),
    bootRetryDelayMs: rng.pick([1_000, 1_000, 10, 250]),
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
    idleCheckYesP: rng.pick([0.2, 0.5, 0.9]),
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
  #stopped = false;
  readonly #callers = new Map<string, Caller>();
  readonly #runners = new Map<string, FakeRunner>();
  readonly #boots = new Set<string>();
  readonly #bootsDone = new Set<string>();
  #nextCaller = 1;
  #nextRunner = 1;
  #granted = 0;
  #timedOut = 0;
  #crashes = 0;

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

  #apply(event: PoolEvent): void {
    this.#steps += 1;
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
        caller.status = "granted";
        caller.runnerId = runner.id;
        this.#granted += 1;
        if (this.#rng.chance(this.#swarm.childP)) {
          this.#apply({
            type: "convertToChild",
            checkoutId: caller.id,
            childId: `child-${caller.id}`,
          });
        }
        this.#schedule(this.#delay(this.#swarm.meanHoldMs), {
          kind: "finish",
          callerId: caller.id,
        });
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
        if (effect.error.code === "TIMEOUT") {
          if (caller.deadlineMs === null || caller.deadlineMs > this.#nowMs) {
            this.#fail(`${caller.id} timed out before its deadline ${caller.deadlineMs}`);
          }
          this.#timedOut += 1;
        } else if (effect.error.code !== "POOL_STOPPED" || !this.#stopped) {
          this.#fail(`unexpected reject ${effect.error.code} of ${caller.id}`);
        }
        caller.status = "rejected";
        return;
      }
      case "failCheckout": {
        const caller = this.#caller(effect.checkoutId);
        if (caller.status !== "granted")
          this.#fail(`failCheckout of ${caller.id} in ${caller.status}`);
        const runner = this.#runners.get(caller.runnerId ?? "");
        if (runner?.alive !== false) this.#fail(`failCheckout of ${caller.id}: its runner is up`);
        caller.status = "failed";
        return;
      }
      case "boot":
        if (this.#boots.has(effect.bootId)) this.#fail(`boot id ${effect.bootId} reused`);
        if (this.#stopped) this.#fail(`boot ${effect.bootId} after stop`);
        this.#boots.add(effect.bootId);
        this.#schedule(this.#delay(this.#swarm.meanBootMs), {
          kind: "bootDone",
          bootId: effect.bootId,
        });
        return;
      case "shutdownRunner": {
        const runner = this.#runners.get(effect.runnerId);
        if (runner === undefined || !runner.alive)
          this.#fail(`shutdown of dead runner ${effect.runnerId}`);
        if (runner.shutdownRequested) this.#fail(`second shutdown of runner ${runner.id}`);
        if (effect.reason !== "stop" && this.#busy(runner.id)) {
          this.#fail(`shutdown (${effect.reason}) of busy runner ${runner.id}`);
        }
        runner.shutdownRequested = true;
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
      case "telemetry":
        return;
    }
  }

  /** The world moves: callers, the fake backend, and the operator. */
  #perform(action: Action): void {
    switch (action.kind) {
      case "arrive": {
        if (!this.#faults) return; // the liveness phase lets the last callers drain
        const id = `c${this.#nextCaller++}`;
        const deadlineMs = this.#rng.chance(this.#swarm.deadlineP)
          ? this.#nowMs + this.#rng.int(0, 3_000)
          : null;
        const caller: Caller = { id, status: "waiting", deadlineMs, runnerId: null };
        this.#callers.set(id, caller);
        if (this.#rng.chance(this.#swarm.cancelWaitingP)) {
          this.#schedule(this.#rng.int(0, 2_000), { kind: "cancel", callerId: id });
        }
        this.#schedule(this.#delay(this.#swarm.meanArrivalMs), { kind: "arrive" });
        if (this.#faults && this.#rng.chance(this.#swarm.stopP))
          this.#schedule(0, { kind: "stop" });
        this.#apply({ type: "checkout", checkoutId: id, deadlineMs });
        return;
      }
      case "finish": {
        const caller = this.#caller(action.callerId);
        if (caller.status !== "granted") return; // it failed or went away first
        caller.status = "done";
        const reason = this.#rng.pick(["done", "done", "error", "timeout"] as const);
        this.#apply({ type: "checkin", checkoutId: caller.id, reason });
        return;
      }
      case "cancel": {
        const caller = this.#caller(action.callerId);
        if (caller.status !== "waiting" && caller.status !== "granted") return;
        caller.status = "gone";
        this.#apply({ type: "callerGone", checkoutId: caller.id });
        return;
      }
      case "bootDone": {
        this.#bootsDone.add(action.bootId);
        if (this.#faults && this.#rng.chance(this.#swarm.bootFailP)) {
          this.#apply({ type: "bootFailed", bootId: action.bootId, error: "simulated" });
          return;
        }
        const runnerId = `r${this.#nextRunner++}`;
        this.#runners.set(runnerId, { id: runnerId, alive: true, shutdownRequested: false });
        if (this.#rng.chance(this.#swarm.crashP)) {
          this.#schedule(this.#delay(this.#swarm.meanHoldMs * 3), { kind: "crash", runnerId });
        }
        this.#apply({ type: "bootSucceeded", bootId: action.bootId, runnerId });
        return;
      }
      case "crash": {
        const runner = this.#runners.get(action.runnerId);
        if (!this.#faults || runner === undefined || !runner.alive) return;
        runner.alive = false;
        this.#crashes += 1;
        this.#apply({ type: "runnerDown", runnerId: runner.id, reason: "crashed" });
        return;
      }
      case "exit": {
        const runner = this.#runners.get(action.runnerId);
        if (runner === undefined || !runner.alive) return;
        if (this.#busy(runner.id) && action.reason !== "stop") {
          this.#fail(`runner ${runner.id} exits (${action.reason}) with callers on it`);
        }
        runner.alive = false;
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
        this.#apply({ type: "resize", min, max });
        return;
      }
      case "stop":
        this.#stopped = true;
        this.#apply({ type: "stop" });
        return;
    }
  }

  // ---- final checks ------------------------------------------------------------------------

  #checkSettled(): void {
    for (const caller of this.#callers.values()) {
      if (caller.status === "waiting" || caller.status === "granted") {
        this.#fail(`liveness: caller ${caller.id} never resolved (${caller.status})`);
      }
    }
    for (const bootId of this.#boots) {
      if (!this.#bootsDone.has(bootId)) this.#fail(`liveness: boot ${bootId} never finished`);
    }
    const snap = snapshot(this.#state);
    if (snap.waiting !== 0 || snap.pendingBoots !== 0) {
      this.#fail(`liveness: ${snap.waiting} waiting, ${snap.pendingBoots} pending boots at rest`);
    }
    const alive = [...this.#runners.values()].filter((r) => r.alive).map((r) => r.id);
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

  /** Runners a pool at rest keeps: `min`, unless idle shutdown applies to min runners too. */
  #expectedAtRest(min: number): { low: number; high: number } {
    if (this.#stopped) return { low: 0, high: 0 };
    const minStay = this.#config.minIdleShutdownAfterMs === null;
    const low = minStay ? min : 0;
    if (this.#config.idleShutdownAfterMs === null) return { low, high: this.#state.limits.max };
    return { low, high: low };
  }

  // ---- helpers -----------------------------------------------------------------------------

  #busy(runnerId: string): boolean {
    for (const caller of this.#callers.values()) {
      if (caller.status === "granted" && caller.runnerId === runnerId) return true;
    }
    return false;
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
      },
    };
  }
}

/**
 * Agenda keys pack (time, insertion order) into one number so equal times run in the order
 * they were scheduled. Times stay far below 2^53 / AGENDA_SEQ_SPAN (≈ 9e8 ms) in any run.
 */
const AGENDA_SEQ_SPAN = 10_000_000;

function describeEvent(event: PoolEvent): string {
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
      return `grant ${e.checkoutId}@${e.runnerId}`;
    case "reject":
      return `reject ${e.checkoutId} ${e.error.code}`;
    case "failCheckout":
      return `fail ${e.checkoutId} ${e.error.code}`;
    case "boot":
      return `boot ${e.bootId}${e.isMin ? " min" : ""}`;
    case "shutdownRunner":
      return `shutdown ${e.runnerId} ${e.reason}`;
    case "checkIdle":
      return `checkIdle ${e.runnerId}`;
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
