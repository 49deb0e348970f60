/**
 * What the world knows, independently of the core: its callers and runners, boot records to
 * price the budget, counters for the report, the agenda of what happens next, and the checks
 * an effect must pass (a reject's code is one the situation allows; a backstop fires only past
 * its deadline; a pinned call runs on its holder's runner, alone).
 */
import { MinHeap } from "../../src/core/heap.js";
import {
  type CoreConfig,
  type CoreEvent,
  initialState,
  type PoolState,
  step,
} from "../../src/core/index.js";
import { chooseConfig, chooseSwarm } from "./choose.js";
import {
  type Action,
  type Caller,
  type FakeRunner,
  SimFailure,
  type SimOptions,
  type Swarm,
} from "./model.js";
import { Prng } from "./prng.js";

/**
 * Agenda keys pack (time, insertion order) into one number so equal times run in the order
 * they were scheduled. Times stay far below 2^53 / AGENDA_SEQ_SPAN (≈ 9e8 ms) in any run.
 */
export const AGENDA_SEQ_SPAN = 10_000_000;

export abstract class World {
  readonly seed: number;
  readonly rng: Prng;
  readonly config: CoreConfig;
  readonly swarm: Swarm;
  readonly safetySteps: number;
  readonly tracing: boolean;
  readonly reducer: typeof step;
  readonly trace: string[] = [];
  readonly state: PoolState;
  readonly agenda = new MinHeap<Action>();
  agendaSeq = 0;
  nowMs = 0;
  steps = 0;
  faults = true;
  /** Stop or drain sent: POOL_STOPPED is a fair answer from then on. */
  stopped = false;
  stoppedReported = false;
  /** A permanent boot failure was reported since the last boot that succeeded: BOOT_FAILED is fair. */
  permanentSeen = false;
  /** Boot starts and exits as the world saw them, to price the budget independently. */
  readonly segments = new Map<string, { startMs: number; endMs: number | null }>();
  readonly bootRunner = new Map<string, string>();
  readonly abortedBoots = new Set<string>();
  readonly callers = new Map<string, Caller>();
  readonly runners = new Map<string, FakeRunner>();
  readonly boots = new Set<string>();
  readonly bootsDone = new Set<string>();
  nextCaller = 1;
  nextRunner = 1;
  granted = 0;
  timedOut = 0;
  crashes = 0;
  readonly rejects: Record<string, number> = {};
  kills = 0;
  abandoned = 0;
  backstops = 0;
  leaves = 0;
  retries = 0;
  holders = 0;
  pinned = 0;
  prefetched = 0;
  unqueued = 0;
  /** Queued calls whose runner was asked to give them back (one ask per call). */
  readonly unqueueAsked = new Set<string>();
  #startingQueued = false;
  /** Callers `holding` now (kept so picking one is not a scan of every caller). */
  readonly liveHolders = new Set<string>();
  readonly unlinkedWaitAt = new Map<string, number>();

  constructor(options: SimOptions) {
    this.seed = options.seed;
    this.rng = new Prng(options.seed);
    this.config = chooseConfig(this.rng);
    this.swarm = { ...chooseSwarm(this.rng), ...options.swarm };
    this.safetySteps = options.safetySteps ?? 400;
    this.tracing = options.trace ?? false;
    this.reducer = options.step ?? step;
    this.state = initialState(this.config);
    this.log(() => `config ${JSON.stringify(this.config)}`);
    this.log(() => `swarm ${JSON.stringify(this.swarm)}`);
  }

  /** Steps the core with `event` now, checks it, and carries out its effects. */
  abstract apply(event: CoreEvent): void;

  /** Unlinked work on a runner (its callers may be gone; the slot is held until it ends). */
  unlinkedOn(runnerId: string): number {
    let n = 0;
    for (const c of this.callers.values()) {
      const holds = c.status === "granted" || c.status === "answeredEarly";
      if (holds && c.unlinked && c.runnerId === runnerId) n += 1;
    }
    return n;
  }

  /** At stop, a runner running unlinked work is asked to leave only after shutdownTimeout. */
  checkUnlinkedWaited(runnerId: string): void {
    if (this.unlinkedOn(runnerId) === 0) return;
    const since = this.unlinkedWaitAt.get(runnerId);
    if (since === undefined || this.nowMs < since + this.config.shutdownTimeoutMs) {
      this.fail(
        `shut down ${runnerId} at stop while it runs unlinked work (waited since ${since})`,
      );
    }
  }

  /**
   * The backstop: only for a call granted with a run deadline, never before that deadline
   * plus the grace. The caller is answered; the slot stays held until the work stops, which a
   * silent runner's agent reports later (its thread terminated).
   */
  backstopFired(caller: Caller, code: string): void {
    // Answered by its runner already (the host ignores the backstop's late verdict).
    if (caller.status === "answeredEarly" && caller.retry !== null) return;
    if (caller.status !== "granted") this.fail(`backstop of ${caller.id} in ${caller.status}`);
    if (code !== "TIMEOUT") this.fail(`backstop of ${caller.id} with ${code}`);
    const due = caller.runDeadlineMs;
    if (due === null || due + this.config.deadlineGraceMs > this.nowMs) {
      this.fail(`backstop of ${caller.id} at ${this.nowMs}, run deadline ${due}`);
    }
    caller.status = "answeredEarly";
    this.backstops += 1;
    this.schedule(this.rng.int(0, 2_000), { kind: "finish", callerId: caller.id });
  }

  /**
   * Whether the core may retry this caller now that its runner died: a call (not a child) with
   * retries left whose caller was not answered, and whose backoff ends before its deadline.
   */
  retryAllowed(caller: Caller): boolean {
    const retry = caller.retry;
    if (retry === null || caller.child || caller.on !== null || caller.status !== "granted") {
      return false;
    }
    if (caller.retries >= retry.runnerDown) return false;
    return caller.deadlineMs === null || this.nowMs + retry.backoffMs < caller.deadlineMs;
  }

  /** A reject's code must be one the situation allows. */
  checkRejection(caller: Caller, code: string): void {
    switch (code) {
      case "TIMEOUT":
        if (caller.deadlineMs === null || caller.deadlineMs > this.nowMs) {
          this.fail(`${caller.id} timed out before its deadline ${caller.deadlineMs}`);
        }
        this.timedOut += 1;
        return;
      case "POOL_STOPPED":
        if (!this.stopped) this.fail(`POOL_STOPPED for ${caller.id} while running`);
        return;
      case "OVERLOADED": {
        const waiting = [...this.callers.values()].filter((c) => c.status === "waiting").length;
        // The caller itself is counted as waiting here.
        if (this.config.maxWaiting === null || waiting - 1 < this.config.maxWaiting) {
          this.fail(`OVERLOADED for ${caller.id} with ${waiting - 1} waiting`);
        }
        return;
      }
      case "BUDGET_EXHAUSTED": {
        const budget = this.config.budget;
        if (budget === null || this.spentMs() < budget.runnerMs) {
          this.fail(`BUDGET_EXHAUSTED for ${caller.id} with budget left`);
        }
        return;
      }
      case "RESOURCE_GONE":
        if (caller.on === null) this.fail(`RESOURCE_GONE for ${caller.id}, pinned to nothing`);
        if (this.holderServes(caller.on)) {
          this.fail(`RESOURCE_GONE for ${caller.id} while its holder ${caller.on} serves`);
        }
        return;
      case "BOOT_FAILED":
        if (!this.permanentSeen) {
          this.fail(`BOOT_FAILED for ${caller.id} without a permanent failure`);
        }
        return;
      default:
        this.fail(`unexpected reject ${code} of ${caller.id}`);
    }
  }

  /** Runner time in the budget window, from the world's own records. */
  spentMs(): number {
    const windowMs = this.config.budget?.windowMs ?? 0;
    const from = this.nowMs - windowMs;
    let spent = 0;
    for (const seg of this.segments.values()) {
      const end = seg.endMs ?? this.nowMs;
      if (end > from) spent += end - Math.max(seg.startMs, from);
    }
    return spent;
  }

  endSegment(runnerId: string): void {
    const seg = this.segments.get(runnerId);
    if (seg !== undefined && seg.endMs === null) seg.endMs = this.nowMs;
  }
  busy(runnerId: string): boolean {
    for (const caller of this.callers.values()) {
      if (this.holdsSlot(caller) && caller.runnerId === runnerId) return true;
    }
    return false;
  }

  /**
   * Slots of `runnerId` in use as its agent counts them: calls granted and not ended (running,
   * answered early, holding tracked values), pinned calls (they run in their holder's slot)
   * and calls it holds queued left out.
   */
  slotsTaken(runnerId: string): number {
    const queue = this.runners.get(runnerId)?.queue ?? [];
    let taken = 0;
    for (const c of this.callers.values()) {
      if (c.runnerId !== runnerId || c.on !== null || !this.holdsSlot(c)) continue;
      if (!queue.includes(c.id)) taken += 1;
    }
    return taken;
  }

  /** A call granted to a full runner waits there queued (prefetch must be on; one at most). */
  holdQueued(runner: FakeRunner, caller: Caller): void {
    if (!this.config.prefetch || this.config.singleUse) {
      this.fail(`${caller.id} granted to full runner ${runner.id} without prefetch`);
    }
    if (caller.child) this.fail(`child ${caller.id} granted to full runner ${runner.id}`);
    const held = runner.queue.filter((id) => this.callers.get(id)?.status === "granted");
    const depth = Math.min(runner.threads, this.config.maxConcurrency);
    if (held.length >= depth) {
      this.fail(`${caller.id} queued on ${runner.id} behind ${held} (${runner.threads} threads)`);
    }
    runner.queue.push(caller.id);
    this.prefetched += 1;
    // Its deadline counts while it waits: the agent answers TIMEOUT if it never started.
    if (caller.runDeadlineMs !== null) {
      this.schedule(caller.runDeadlineMs - this.nowMs, {
        kind: "queuedTimeout",
        callerId: caller.id,
      });
    }
  }

  /**
   * After each step, as the agent does when a slot frees: queued calls start, oldest first,
   * while slots are free; calls no longer held (failed, gone, given back) leave the queue.
   */
  startQueued(start: (caller: Caller) => void): void {
    if (this.#startingQueued) return; // a start's own step (convertToChild) re-enters
    this.#startingQueued = true;
    try {
      for (const runner of this.runners.values()) {
        if (runner.queue.length === 0) continue;
        const kept = runner.queue.filter((id) => {
          const c = this.callers.get(id);
          return c?.status === "granted" && c.runnerId === runner.id && runner.alive;
        });
        runner.queue.length = 0;
        runner.queue.push(...kept);
        while (runner.queue.length > 0 && this.slotsTaken(runner.id) < this.config.maxConcurrency) {
          const caller = this.caller(runner.queue[0] as string);
          runner.queue.shift();
          this.unqueueAsked.delete(caller.id);
          start(caller);
        }
      }
    } finally {
      this.#startingQueued = false;
    }
  }

  /** Granted and not ended: running, answered early, or holding tracked values. */
  holdsSlot(caller: Caller): boolean {
    const s = caller.status;
    return s === "granted" || s === "answeredEarly" || s === "holding" || s === "releasing";
  }

  // ---- tracked resources (issue 24) ----------------------------------------------------------

  /**
   * A holder to pin a new call to: a live one mostly; now and then any earlier call (released,
   * gone, or one that holds nothing); null (not pinned) when no holder is live.
   */
  pickHolder(): string | null {
    if (this.callers.size > 0 && this.rng.chance(0.1)) {
      return `c${this.rng.int(1, this.callers.size)}`;
    }
    if (this.liveHolders.size === 0) return null;
    const pick = this.rng.int(0, this.liveHolders.size - 1);
    let i = 0;
    for (const id of this.liveHolders) if (i++ === pick) return id;
    return null;
  }

  /** The pinned call of `holderId` running now (granted or answered early), if any. */
  runningOn(holderId: string): Caller | undefined {
    for (const c of this.callers.values()) {
      if (c.on === holderId && (c.status === "granted" || c.status === "answeredEarly")) return c;
    }
    return undefined;
  }

  /** Whether holder `holderId` must still take pinned calls: held, on a runner staying up. */
  holderServes(holderId: string): boolean {
    const holder = this.callers.get(holderId);
    if (holder?.status !== "holding") return false;
    const runner = this.runners.get(holder.runnerId ?? "");
    return (
      runner?.alive === true && !runner.abandoned && !runner.leaving && !runner.shutdownRequested
    );
  }

  checkPinnedGrant(caller: Caller, holderId: string, runnerId: string): void {
    const holder = this.callers.get(holderId);
    if (holder === undefined || (holder.status !== "holding" && holder.status !== "releasing")) {
      this.fail(`pinned ${caller.id} granted on ${holderId}, which holds nothing`);
    }
    if (holder.runnerId !== runnerId) {
      this.fail(`pinned ${caller.id} granted on ${runnerId}, its holder is on ${holder.runnerId}`);
    }
    const other = this.runningOn(holderId);
    if (other !== undefined) {
      this.fail(`pinned ${caller.id} granted while ${other.id} runs on holder ${holderId}`);
    }
    this.pinned += 1;
  }

  /** A pinned call ended: a holder released meanwhile ends with it. */
  pinnedEnded(caller: Caller): void {
    if (caller.on === null) return;
    const holder = this.callers.get(caller.on);
    if (holder?.status === "releasing" && this.runningOn(holder.id) === undefined) {
      holder.status = "done";
    }
  }

  caller(id: string): Caller {
    const caller = this.callers.get(id);
    if (caller === undefined) this.fail(`effect for unknown caller ${id}`);
    return caller;
  }

  /** An exponential-ish delay with the given mean, as whole milliseconds. */
  delay(meanMs: number): number {
    return Math.floor(-Math.log(1 - this.rng.next()) * meanMs);
  }

  schedule(afterMs: number, action: Action): void {
    const at = this.nowMs + Math.max(0, afterMs);
    this.agenda.push(at * AGENDA_SEQ_SPAN + (this.agendaSeq++ % AGENDA_SEQ_SPAN), action);
  }

  log(line: () => string): void {
    if (this.tracing) this.trace.push(line());
  }

  fail(message: string): never {
    throw new SimFailure(message);
  }
}
