/**
 * The world's moves, drawn from the swarm: callers come and go, runners boot, crash and leave,
 * the operator resizes, drains and stops.
 */
import type { RetryPolicy } from "../../src/core/index.js";
import type { Action, Caller, FakeRunner } from "./model.js";
import type { World } from "./world.js";

/** The world moves: callers, the fake backend, and the operator. */
export function perform(w: World, action: Action): void {
  switch (action.kind) {
    case "arrive": {
      if (!w.faults) return; // the liveness phase lets the last callers drain
      const id = `c${w.nextCaller++}`;
      const timeoutMs = w.rng.chance(w.swarm.deadlineP) ? w.rng.int(0, 3_000) : null;
      const deadlineMs = timeoutMs === null ? null : w.nowMs + timeoutMs;
      const retry: RetryPolicy | null = w.rng.chance(w.swarm.retryP)
        ? { runnerDown: w.rng.int(1, 3), backoffMs: w.rng.pick([0, 10, 500]) }
        : null;
      // Pinned calls take no retry and are never unlinked (the host refuses both).
      const on = w.rng.chance(w.swarm.pinP) ? w.pickHolder() : null;
      const caller: Caller = {
        id,
        status: "waiting",
        deadlineMs,
        runnerId: null,
        runDeadlineMs: null,
        retry: on === null ? retry : null,
        retries: 0,
        child: false,
        unlinked: on === null && w.rng.chance(w.swarm.unlinkedP),
        on,
      };
      w.callers.set(id, caller);
      if (w.rng.chance(w.swarm.cancelWaitingP)) {
        w.schedule(w.rng.int(0, 2_000), { kind: "cancel", callerId: id });
      }
      w.schedule(w.delay(w.swarm.meanArrivalMs), { kind: "arrive" });
      if (w.faults && w.rng.chance(w.swarm.stopP)) w.schedule(0, { kind: "stop" });
      if (w.faults && w.rng.chance(w.swarm.drainP)) w.schedule(0, { kind: "drain" });
      w.apply({
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
      const caller = w.caller(action.callerId);
      if (caller.status !== "granted" || caller.child) return;
      caller.status = "answeredEarly";
      w.apply({ type: "answered", checkoutId: caller.id });
      return;
    }
    case "unqueueArrives": {
      // Given back only if it is still queued there (not started, not failed or gone).
      const runner = w.runners.get(action.runnerId);
      const caller = w.caller(action.callerId);
      w.unqueueAsked.delete(caller.id);
      const at = runner?.queue.indexOf(caller.id) ?? -1;
      if (runner === undefined || !runner.alive || at < 0 || caller.status !== "granted") return;
      runner.queue.splice(at, 1);
      caller.status = "waiting";
      caller.runnerId = null;
      w.unqueued += 1;
      w.apply({ type: "unqueued", checkoutId: caller.id });
      return;
    }
    case "queuedTimeout": {
      const caller = w.caller(action.callerId);
      const runner = w.runners.get(caller.runnerId ?? "");
      const at = runner?.queue.indexOf(caller.id) ?? -1;
      if (runner === undefined || at < 0 || caller.status !== "granted") return;
      runner.queue.splice(at, 1);
      caller.status = "done";
      w.apply({ type: "checkin", checkoutId: caller.id, reason: "timeout" });
      return;
    }
    case "finish": {
      const caller = w.caller(action.callerId);
      // It failed or went away first. Answered early: the work stopped now.
      if (caller.status !== "granted" && caller.status !== "answeredEarly") return;
      const tracks =
        caller.status === "granted" &&
        caller.on === null &&
        !caller.child &&
        w.rng.chance(w.swarm.trackP);
      if (tracks) {
        // Answered with tracked values: the caller holds them until it releases them.
        caller.status = "holding";
        w.liveHolders.add(caller.id);
        w.holders += 1;
        w.apply({ type: "convertToTracked", checkoutId: caller.id });
        w.schedule(w.delay(w.swarm.meanHoldMs * 4), {
          kind: "release",
          callerId: caller.id,
        });
        return;
      }
      caller.status = "done";
      // A holder released meanwhile ends with this call, in the same step.
      w.pinnedEnded(caller);
      const reason = w.rng.pick(["done", "done", "error", "timeout"] as const);
      w.apply({ type: "checkin", checkoutId: caller.id, reason });
      return;
    }
    case "release": {
      // Every handle released (or collected): the host checks the holder in.
      const caller = w.caller(action.callerId);
      if (caller.status !== "holding") return; // its runner went first
      w.liveHolders.delete(caller.id);
      caller.status = w.runningOn(caller.id) === undefined ? "done" : "releasing";
      w.apply({ type: "checkin", checkoutId: caller.id, reason: "done" });
      return;
    }
    case "cancel": {
      const caller = w.caller(action.callerId);
      if (caller.status !== "waiting" && caller.status !== "granted") return;
      // Unlinked: the host answers the caller and keeps the work (nothing reaches the core).
      if (caller.unlinked) return;
      const wasGranted = caller.status === "granted";
      caller.status = "gone";
      if (wasGranted) w.pinnedEnded(caller);
      w.apply({ type: "callerGone", checkoutId: caller.id });
      return;
    }
    case "bootDone": {
      // Given up on by the core: the host stops what the backend started, reports nothing.
      if (w.abortedBoots.has(action.bootId)) return;
      w.bootsDone.add(action.bootId);
      const runnerId = w.bootRunner.get(action.bootId) as string;
      if (w.faults && w.rng.chance(w.swarm.bootFailP)) {
        const permanent = w.rng.chance(w.swarm.permanentP);
        w.endSegment(runnerId);
        w.apply({ type: "bootFailed", bootId: action.bootId, error: "simulated", permanent });
        return;
      }
      w.nextRunner += 1;
      const threads = w.rng.pick([1, 1, 2, 3]);
      w.runners.set(runnerId, {
        id: runnerId,
        alive: true,
        shutdownRequested: false,
        stubborn: w.rng.chance(w.swarm.ignoreShutdownP),
        hung: w.rng.chance(w.swarm.hungBackendP),
        abandoned: false,
        leaving: false,
        queue: [],
        threads,
      });
      if (w.rng.chance(w.swarm.crashP)) {
        w.schedule(w.delay(w.swarm.meanHoldMs * 3), { kind: "crash", runnerId });
      }
      if (w.rng.chance(w.swarm.leaveP)) {
        w.schedule(w.delay(w.swarm.meanHoldMs * 3), { kind: "leave", runnerId });
      }
      w.apply({ type: "bootSucceeded", bootId: action.bootId, threads });
      return;
    }
    case "crash": {
      const runner = w.runners.get(action.runnerId);
      if (!w.faults || runner === undefined || !runner.alive) return;
      runner.alive = false;
      w.crashes += 1;
      w.endSegment(runner.id);
      w.apply({ type: "runnerDown", runnerId: runner.id, reason: "crashed" });
      return;
    }
    case "leave": {
      // The agent announces, then exits (a failsafe or fatal error may leave work behind).
      const runner = w.runners.get(action.runnerId);
      if (!w.faults || runner === undefined || !runner.alive || runner.leaving) return;
      if (runner.shutdownRequested) return; // already on its way out at the pool's request
      runner.leaving = true;
      w.leaves += 1;
      w.apply({ type: "runnerLeaving", runnerId: runner.id, reason: "failsafe" });
      if (runner.stubborn) return; // never exits by itself: the core must kill it
      w.schedule(w.rng.int(0, 300), {
        kind: "exit",
        runnerId: runner.id,
        reason: "announced",
      });
      return;
    }
    case "exit": {
      const runner = w.runners.get(action.runnerId);
      if (runner === undefined || !runner.alive) return;
      const mayBeBusy = ["stop", "operator", "killed", "announced"].includes(action.reason);
      if (w.busy(runner.id) && !mayBeBusy) {
        w.fail(`runner ${runner.id} exits (${action.reason}) with callers on it`);
      }
      runner.alive = false;
      w.endSegment(runner.id);
      w.apply({ type: "runnerDown", runnerId: runner.id, reason: action.reason });
      return;
    }
    case "idleAnswer": {
      const yes = !w.faults || w.rng.chance(w.swarm.idleCheckYesP);
      w.apply({ type: "idleChecked", runnerId: action.runnerId, shutdown: yes });
      return;
    }
    case "resize": {
      if (!w.faults) return;
      const min = w.rng.pick([0, 0, 1, 2, 3]);
      const max = Math.max(1, min + w.rng.int(0, 4));
      // About one resize per 1/resizeP arrivals.
      w.schedule(w.delay(w.swarm.meanArrivalMs / w.swarm.resizeP), {
        kind: "resize",
      });
      const buffer = Math.min(max, w.rng.pick([0, 0, 0, 1, 2]));
      w.apply({ type: "resize", min, max, buffer });
      // Now and then an operator drains one runner (the dashboard's action).
      const ids = [...w.runners.values()].filter((r) => r.alive && !r.abandoned);
      if (ids.length > 0 && w.rng.chance(0.3)) {
        const runnerId = (ids[w.rng.int(0, ids.length - 1)] as FakeRunner).id;
        w.apply({ type: "drainRunner", runnerId });
      }
      return;
    }
    case "stop":
      w.stopped = true;
      w.apply({ type: "stop" });
      return;
    case "drain":
      w.stopped = true;
      w.apply({ type: "drain", timeoutMs: w.rng.pick([null, 500, 5_000]) });
      return;
  }
}
