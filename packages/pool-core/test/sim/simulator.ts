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
 * Issue 23's prefetch too: with `prefetch` on, a call may be granted to a full runner, which
 * holds it queued and starts it (oldest first) as its slots free, and answers the core's
 * `unqueue` by giving it back if it has not started. The world checks that only a full runner
 * gets one, one at a time, and only with prefetch on, and that an unqueue names the call the
 * runner holds queued.
 *
 * Issue 24's tracked resources too: some calls answer with tracked values (their slot is held
 * until the caller releases them), and callers pin calls to them. The world checks that a
 * pinned call runs on its holder's runner, alone on that holder, while the holder lives; that
 * RESOURCE_GONE comes only when the holder is released or gone, or its runner is leaving; and
 * that every holder is released by the end.
 */

import { type CoreEvent, checkInvariants, nextDeadline, snapshot } from "../../src/core/index.js";
import { perform } from "./actions.js";
import { carryOut, startWork } from "./effects.js";
import { type Action, SimFailure, type SimOptions, type SimResult } from "./model.js";
import { describeEffects, describeEvent } from "./trace.js";
import { AGENDA_SEQ_SPAN, World } from "./world.js";

export { formatFailure } from "./trace.js";

/** Bound on liveness-phase steps: a healthy pool settles in far fewer. */
const LIVENESS_STEP_LIMIT = 200_000;

export function runSeed(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  return sim.run();
}

/** The run: a safety phase with faults, then a liveness phase until nothing is left to do. */
class Simulation extends World {
  run(): SimResult {
    try {
      this.apply({ type: "start" });
      this.schedule(this.delay(this.swarm.meanArrivalMs), { kind: "arrive" });
      if (this.swarm.resizeP > 0) this.schedule(this.rng.int(0, 5_000), { kind: "resize" });
      while (this.steps < this.safetySteps && this.#advance()) {}
      this.faults = false;
      this.log(() => `--- liveness phase at step ${this.steps}, t=${this.nowMs}`);
      const limit = this.steps + LIVENESS_STEP_LIMIT;
      while (this.#advance()) {
        if (this.steps > limit)
          this.fail(`liveness: not settled after ${LIVENESS_STEP_LIMIT} steps`);
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
    const deadline = nextDeadline(this.state);
    const agendaKey = this.agenda.peekKey();
    const agendaAt = agendaKey === undefined ? null : Math.floor(agendaKey / AGENDA_SEQ_SPAN);
    if (deadline === null && agendaAt === null) return false;
    if (deadline !== null && (agendaAt === null || deadline <= agendaAt)) {
      this.nowMs = deadline;
      this.apply({ type: "tick" });
      return true;
    }
    const action = this.agenda.pop() as Action;
    this.nowMs = agendaAt as number;
    perform(this, action);
    return true;
  }

  override apply(event: CoreEvent): void {
    // A runner starts its queued call the moment a slot frees, before the parent hears of it.
    this.startQueued((caller) => startWork(this, caller));
    this.steps += 1;
    if (event.type === "bootFailed" && event.permanent) this.permanentSeen = true;
    if (event.type === "bootSucceeded") this.permanentSeen = false;
    const { effects } = this.reducer(this.state, event, this.nowMs);
    this.log(
      () => `${this.steps} t=${this.nowMs} ${describeEvent(event)} -> ${describeEffects(effects)}`,
    );
    try {
      checkInvariants(this.state);
    } catch (error) {
      this.fail(String(error));
    }
    const deadline = nextDeadline(this.state);
    if (deadline !== null && deadline <= this.nowMs) {
      this.fail(`nextDeadline ${deadline} is not after now ${this.nowMs}`);
    }
    for (const effect of effects) carryOut(this, effect);
    this.startQueued((caller) => startWork(this, caller));
  }

  // ---- final checks ------------------------------------------------------------------------

  #checkSettled(): void {
    for (const caller of this.callers.values()) {
      if (caller.status === "waiting" || this.holdsSlot(caller)) {
        this.fail(`liveness: caller ${caller.id} never resolved (${caller.status})`);
      }
    }
    for (const bootId of this.boots) {
      if (!this.bootsDone.has(bootId)) this.fail(`liveness: boot ${bootId} never finished`);
    }
    const snap = snapshot(this.state, this.nowMs);
    if (snap.waiting !== 0 || snap.pendingBoots !== 0) {
      this.fail(`liveness: ${snap.waiting} waiting, ${snap.pendingBoots} pending boots at rest`);
    }
    const alive = [...this.runners.values()]
      .filter((r) => r.alive && !r.abandoned)
      .map((r) => r.id);
    const tracked = snap.runners.map((r) => r.id);
    if (alive.join() !== tracked.join()) {
      this.fail(`liveness: backend runs [${alive}] but the pool tracks [${tracked}]`);
    }
    if (snap.runners.some((r) => r.state !== "ready" || r.inflight !== 0)) {
      this.fail(`liveness: runners not idle and ready at rest: ${JSON.stringify(snap.runners)}`);
    }
    const expected = this.#expectedAtRest(snap.min);
    const count = snap.runners.length;
    if (count < expected.low || count > expected.high) {
      this.fail(`liveness: ${count} runners at rest, expected ${expected.low}..${expected.high}`);
    }
  }

  /**
   * Runners a pool at rest keeps: `min` (unless idle shutdown applies to min runners too), or
   * `buffer` idle ones if more. Fewer when boots may have been refused (a budget, or a
   * permanent failure that no later demand lifted).
   */
  #expectedAtRest(min: number): { low: number; high: number } {
    if (this.stopped) {
      if (!this.stoppedReported) this.fail("liveness: the pool stopped but never said so");
      return { low: 0, high: 0 };
    }
    const limits = this.state.limits;
    const buffer = Math.min(limits.buffer, limits.max);
    const minStay = this.config.minIdleShutdownAfterMs === null;
    const kept = Math.max(minStay ? min : 0, buffer);
    const refused = this.config.budget !== null || this.state.bootsBlockedBy !== null;
    const low = refused ? 0 : kept;
    if (this.config.idleShutdownAfterMs === null) return { low, high: limits.max };
    return { low, high: kept };
  }

  #result(error: string | null): SimResult {
    return {
      seed: this.seed,
      ok: error === null,
      failedAtStep: error === null ? null : this.steps,
      error,
      trace: this.trace,
      stats: {
        steps: this.steps,
        callers: this.callers.size,
        granted: this.granted,
        timedOut: this.timedOut,
        runnersBooted: this.runners.size,
        crashes: this.crashes,
        rejects: this.rejects,
        kills: this.kills,
        abandoned: this.abandoned,
        abortedBoots: this.abortedBoots.size,
        bufferBoots: this.config.buffer > 0 ? this.boots.size : 0,
        backstops: this.backstops,
        leaves: this.leaves,
        retries: this.retries,
        holders: this.holders,
        pinned: this.pinned,
        prefetched: this.prefetched,
        unqueued: this.unqueued,
      },
    };
  }
}
