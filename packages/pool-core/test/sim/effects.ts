/**
 * The host's side of the simulation: what it does with each effect the core asks for, checked
 * against what the world knows (a grant goes to a waiting caller on a live runner that is
 * staying, a boot fits the budget, …). Results come back later through the agenda.
 */
import type { Effect } from "../../src/core/index.js";
import type { Caller } from "./model.js";
import type { World } from "./world.js";

/**
 * The runner starts a call: a placed child now and then, and its answer later (or never, from
 * a silent runner: the core's backstop must fail it).
 */
export function startWork(w: World, caller: Caller): void {
  if (caller.on === null && w.rng.chance(w.swarm.childP)) {
    caller.child = true;
    w.apply({
      type: "convertToChild",
      checkoutId: caller.id,
      childId: `child-${caller.id}`,
    });
  }
  const silent = w.faults && caller.runDeadlineMs !== null && w.rng.chance(w.swarm.silentP);
  if (silent) return;
  w.schedule(w.delay(w.swarm.meanHoldMs), { kind: "finish", callerId: caller.id });
  if (caller.retry !== null && w.rng.chance(w.swarm.answeredP)) {
    w.schedule(w.delay(w.swarm.meanHoldMs), { kind: "answer", callerId: caller.id });
  }
}

/** What the host does with an effect; results come back later through the agenda. */
export function carryOut(w: World, effect: Effect): void {
  switch (effect.type) {
    case "grant": {
      const caller = w.caller(effect.checkoutId);
      if (caller.status !== "waiting") w.fail(`grant to ${caller.id} in state ${caller.status}`);
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined || !runner.alive) w.fail(`grant on dead runner ${effect.runnerId}`);
      if (runner.shutdownRequested) w.fail(`grant on runner ${runner.id} being shut down`);
      if (runner.leaving) w.fail(`grant on runner ${runner.id}, which announced leaving`);
      // A retry never extends a call: every attempt ends by the caller's first deadline.
      const until = effect.runDeadlineMs;
      if (caller.retries > 0 && caller.deadlineMs !== null) {
        if (until === null || until > caller.deadlineMs) {
          w.fail(`retried ${caller.id} granted until ${until}, past ${caller.deadlineMs}`);
        }
      }
      if (caller.on !== null) w.checkPinnedGrant(caller, caller.on, runner.id);
      const full = caller.on === null && w.slotsTaken(runner.id) >= w.config.maxConcurrency;
      caller.status = "granted";
      caller.runnerId = runner.id;
      caller.runDeadlineMs = effect.runDeadlineMs;
      w.granted += 1;
      if (w.faults && w.rng.chance(w.swarm.cancelRunningP)) {
        w.schedule(w.delay(w.swarm.meanHoldMs), {
          kind: "cancel",
          callerId: caller.id,
        });
      }
      if (full) {
        w.holdQueued(runner, caller);
        return;
      }
      startWork(w, caller);
      return;
    }

    case "unqueue": {
      const caller = w.caller(effect.checkoutId);
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined || !runner.alive)
        w.fail(`unqueue on dead runner ${effect.runnerId}`);
      if (!runner.queue.includes(caller.id)) {
        w.fail(`unqueue of ${caller.id}, which ${runner.id} does not hold queued`);
      }
      if (w.unqueueAsked.has(caller.id)) w.fail(`second unqueue of ${caller.id}`);
      w.unqueueAsked.add(caller.id);
      w.schedule(w.rng.int(0, 50), {
        kind: "unqueueArrives",
        callerId: caller.id,
        runnerId: runner.id,
      });
      return;
    }
    case "reject": {
      const caller = w.caller(effect.checkoutId);
      if (caller.status !== "waiting") w.fail(`reject of ${caller.id} in state ${caller.status}`);
      w.checkRejection(caller, effect.error.code);
      w.rejects[effect.error.code] = (w.rejects[effect.error.code] ?? 0) + 1;
      caller.status = "rejected";
      return;
    }
    case "failCheckout": {
      const caller = w.caller(effect.checkoutId);
      if (effect.answeredEarly === true) {
        w.backstopFired(caller, effect.error.code);
        return;
      }
      if (!w.holdsSlot(caller)) w.fail(`failCheckout of ${caller.id} in ${caller.status}`);
      const runner = w.runners.get(caller.runnerId ?? "");
      if (runner?.alive !== false && runner?.abandoned !== true) {
        w.fail(`failCheckout of ${caller.id}: its runner is up`);
      }
      if (!w.state.stopped && w.retryAllowed(caller)) {
        w.fail(`${caller.id} failed with a retry left`);
      }
      // A pinned call failed with its runner: its holder is failed next, in the same step.
      caller.status = "failed";
      w.liveHolders.delete(caller.id);
      return;
    }
    case "retryCheckout": {
      const caller = w.caller(effect.checkoutId);
      if (!w.retryAllowed(caller)) {
        w.fail(`retry of ${caller.id} (${caller.status}, ${caller.retries} retries)`);
      }
      const runner = w.runners.get(caller.runnerId ?? "");
      if (runner?.alive !== false && runner?.abandoned !== true) {
        w.fail(`retry of ${caller.id}: its runner is up`);
      }
      if (effect.attempt !== caller.retries + 1) {
        w.fail(`retry of ${caller.id} numbered ${effect.attempt} after ${caller.retries}`);
      }
      caller.status = "waiting";
      caller.runnerId = null;
      caller.retries += 1;
      w.retries += 1;
      return;
    }
    case "boot": {
      if (w.boots.has(effect.bootId)) w.fail(`boot id ${effect.bootId} reused`);
      if (w.state.stopped) w.fail(`boot ${effect.bootId} after stop`);
      const budget = w.config.budget;
      if (budget !== null) {
        const spent = w.spentMs();
        if (spent >= budget.runnerMs) {
          w.fail(`boot ${effect.bootId} started with ${spent} ms of ${budget.runnerMs} spent`);
        }
      }
      if (w.segments.has(effect.runnerId)) w.fail(`runner id ${effect.runnerId} reused`);
      w.segments.set(effect.runnerId, { startMs: w.nowMs, endMs: null });
      w.bootRunner.set(effect.bootId, effect.runnerId);
      w.boots.add(effect.bootId);
      if (w.faults && w.rng.chance(w.swarm.hangBootP)) return; // never says hello
      w.schedule(w.delay(w.swarm.meanBootMs), {
        kind: "bootDone",
        bootId: effect.bootId,
      });
      return;
    }
    case "abortBoot": {
      if (!w.boots.has(effect.bootId) || w.bootsDone.has(effect.bootId)) {
        w.fail(`abortBoot of ${effect.bootId}, which is not in flight`);
      }
      w.abortedBoots.add(effect.bootId);
      w.bootsDone.add(effect.bootId);
      w.endSegment(effect.runnerId);
      return;
    }
    case "killRunner": {
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined || !runner.alive) w.fail(`kill of dead runner ${effect.runnerId}`);
      if (!runner.shutdownRequested && !runner.leaving) {
        w.fail(`kill of ${runner.id} before its shutdown`);
      }
      w.kills += 1;
      if (runner.hung && w.faults) return; // the backend never reports the exit
      w.schedule(w.rng.int(0, 100), {
        kind: "exit",
        runnerId: runner.id,
        reason: "killed",
      });
      return;
    }
    case "stopped":
      if (w.stoppedReported) w.fail("stopped reported twice");
      if (!w.state.stopped) w.fail("stopped reported by a running pool");
      w.stoppedReported = true;
      return;
    case "shutdownRunner": {
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined || !runner.alive)
        w.fail(`shutdown of dead runner ${effect.runnerId}`);
      if (runner.shutdownRequested) w.fail(`second shutdown of runner ${runner.id}`);
      if (runner.leaving) w.fail(`shutdown sent to ${runner.id}, which announced leaving`);
      // Stop and an operator's drain ask a busy runner to leave (it finishes its calls).
      if (effect.reason !== "stop" && effect.reason !== "operator" && w.busy(runner.id)) {
        w.fail(`shutdown (${effect.reason}) of busy runner ${runner.id}`);
      }
      if (effect.reason === "stop") w.checkUnlinkedWaited(runner.id);
      runner.shutdownRequested = true;
      if (runner.stubborn && w.faults) return; // exits only when killed
      // The real host drains in-flight calls first (shutdownTimeout); callers still on it
      // finish on their own schedule and the runner exits soon after.
      w.schedule(w.rng.int(0, 200), {
        kind: "exit",
        runnerId: runner.id,
        reason: effect.reason,
      });
      return;
    }
    case "checkIdle": {
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined || !runner.alive)
        w.fail(`checkIdle of dead runner ${effect.runnerId}`);
      w.schedule(w.rng.int(0, 50), { kind: "idleAnswer", runnerId: runner.id });
      return;
    }
    case "forgetRunner": {
      const runner = w.runners.get(effect.runnerId);
      if (runner === undefined) w.fail(`forgetRunner of unknown runner ${effect.runnerId}`);
      if (!runner.hung) w.fail(`forgetRunner of ${runner.id}, whose exit would be reported`);
      runner.abandoned = true;
      w.abandoned += 1;
      w.endSegment(runner.id);
      // The core failed what was still on it; the sim's callers learn it via failCheckout.
      return;
    }
    case "telemetry":
      if (effect.event.type === "unlinkedWait") {
        const held = w.unlinkedOn(effect.event.runnerId);
        if (effect.event.unlinked !== held) {
          w.fail(`unlinkedWait of ${effect.event.unlinked} on a runner running ${held}`);
        }
        w.unlinkedWaitAt.set(effect.event.runnerId, w.nowMs);
      }
      return;
  }
}
