/**
 * The agent's lifecycle and its tasks' deadlines as one pure state machine, like the pool
 * core: `step(state, event, nowMs)` returns effects, `nextDeadline(state)` says when the
 * driver (lifecycle-driver.ts) must send a `tick`. No I/O, no clock, no timers here: the
 * failsafe, the dial backoff, idle, drain, deadlines and terminate graces are instants in the
 * state (agent-state.ts says what each phase holds and which effects the driver carries out).
 * What falls due at an instant is in deadlines.ts; the moves both make, in machine-effects.ts.
 *
 * Slots: at most `settings.slots` tasks hold a slot at once (agent-state.ts, TaskState, says
 * what holds one). A task that arrives with every slot in use waits queued, FIFO, and starts
 * in the step that frees a slot; the parent may take it back (`unqueue`) until then. A queued
 * task that never starts (its deadline, a cancel, the runner's shutdown) is answered plainly,
 * with no `ended` after: nothing ran.
 *
 * Expected races are no-ops: a cancel for a task that already ended, a second shutdown, a
 * task ending after the runner decided to leave, a dial that answers after a stop, an
 * `unqueue` for a task that already started.
 */
import type { WorkKind } from "@flame-ts/pool-core/wire";
import {
  type AgentEffect,
  type AgentEvent,
  type AgentState,
  DIAL_BACKOFF_MAX_MS,
  moveAgent,
  type QueuedTask,
} from "./agent-state.js";
import { fireDeadlines } from "./deadlines.js";
import {
  abort,
  type Connecting,
  dropQueued,
  earliest,
  leave,
  QUEUED_PAST_DEADLINE,
  refuse,
  type Step,
} from "./machine-effects.js";

export { nextDeadline } from "./deadlines.js";

export function step(
  state: AgentState,
  event: AgentEvent,
  nowMs: number,
): { state: AgentState; effects: readonly AgentEffect[] } {
  const st: Step = { s: state, nowMs, fx: [] };
  const { life } = state;
  if (life.phase === "leaving") return { state, effects: [] };
  switch (event.type) {
    case "start":
    case "tick":
      break;
    case "welcomed":
      if (life.phase === "connecting") moveAgent(state, { phase: "serving", idleAtMs: null });
      break;
    case "caughtUp":
      armIdle(st);
      break;
    case "unreachable":
      if (life.phase === "connecting") onUnreachable(st, life, event.reason);
      break;
    case "refused":
      if (life.phase === "connecting") leave(st, "REFUSED", event.reason, null);
      break;
    case "entryLoading":
      // The failsafe is about reaching the parent, which this attempt did.
      if (life.phase === "connecting") moveAgent(state, { ...life, failsafeAtMs: null });
      break;
    case "entryFailed":
      leave(st, "BAD_CONFIG", event.reason, null);
      break;
    case "work":
      onWork(st, event, event.on ?? null);
      break;
    case "cancel": {
      const queued = state.queued.get(event.id);
      if (queued?.kind === "call") {
        dropQueued(st, queued, "ABORTED", "cancelled by the caller before it started");
        break;
      }
      const task = state.tasks.get(event.id);
      if (task !== undefined && task.kind === "call" && !task.answeredEarly) {
        // The parent already answered its caller: from now on the slot waits for `ended`.
        task.answeredEarly = true;
        abort(st, task, "ABORTED", "cancelled by the caller");
      }
      break;
    }
    case "unqueue":
      onUnqueue(st, event.id);
      break;
    case "started":
      onStarted(st, event.id);
      break;
    case "stopChild": {
      const queued = state.queued.get(event.id);
      if (queued?.kind === "child") {
        dropQueued(st, queued, "ABORTED", "the placed child was asked to stop before it started");
        break;
      }
      const task = state.tasks.get(event.id);
      if (task !== undefined && task.kind === "child" && task.terminateAtMs === null) {
        abort(st, task, "ABORTED", "the placed child was asked to stop");
      }
      break;
    }
    case "taskEnded":
      onTaskEnded(st, event.id, event.tracked ?? []);
      break;
    case "released":
      onReleased(st, event.id, event.index);
      break;
    case "shutdown":
      onShutdown(st, event.reason, event.timeoutMs);
      break;
    case "stop":
      // Only a parent that welcomed this runner is told it leaves.
      leave(st, "OK", event.reason, life.phase === "connecting" ? null : "terminated");
      break;
    case "linkLost":
      if (life.phase !== "connecting") {
        leave(st, "LINK_LOST", `parent link lost: ${event.reason}`, null);
      }
      break;
  }
  fireDeadlines(st);
  return { state, effects: st.fx };
}

/**
 * The attempt failed: the next one starts after the backoff, unless the failsafe comes first.
 * An attempt that had reached the parent (failsafe off while the entry loaded) starts it again.
 */
function onUnreachable(st: Step, life: Connecting, reason: string): void {
  moveAgent(st.s, {
    ...life,
    failsafeAtMs: life.failsafeAtMs ?? st.nowMs + st.s.settings.failsafeTimeoutMs,
    redialAtMs: st.nowMs + life.backoffMs,
    backoffMs: Math.min(life.backoffMs * 2, DIAL_BACKOFF_MAX_MS),
    lastError: reason,
  });
}

function onWork(
  st: Step,
  work: { readonly id: number; readonly kind: WorkKind; readonly timeoutMs: number | null },
  on: number | null,
): void {
  const s = st.s;
  const { id, kind, timeoutMs } = work;
  if (s.tasks.has(id) || s.queued.has(id)) {
    const state = s.tasks.has(id) ? "running" : "queued";
    const message = `call id ${id} is already ${state}; ids must be unique per link`;
    st.fx.push({ type: "duplicate", id, message });
    return;
  }
  // A single-use runner still serves the calls pinned to what its one call tracked.
  if (s.life.phase !== "serving" || (s.singleUseTaken && on === null)) {
    refuse(st, id, kind, "RUNNER_DOWN", "the runner is shutting down and takes no new work");
    return;
  }
  if (on !== null && !s.held.has(on)) {
    const message = `runner no longer holds the tracked values of call ${on} (released, or lost with their thread)`;
    refuse(st, id, kind, "RESOURCE_GONE", message);
    return;
  }
  if (s.settings.singleUse) s.singleUseTaken = true;
  const deadlineMs = kind === "call" && timeoutMs !== null ? st.nowMs + timeoutMs : null;
  s.taskDueAtMs = earliest(s.taskDueAtMs, deadlineMs);
  if (s.life.idleAtMs !== null) moveAgent(s, { phase: "serving", idleAtMs: null });
  const task = { id, kind, deadlineMs };
  // A pinned call runs in its holder's slot: it never waits for one.
  if (on !== null) {
    start(st, task, true);
  } else if (s.queued.size === 0 && s.slotsInUse < s.settings.slots) {
    start(st, task, false);
  } else {
    s.queued.set(id, task);
    st.fx.push({ type: "queued", id });
  }
}

/** `how`: `run` asks the executor to start it; `claimed`, a thread already did (onStarted). */
function start(st: Step, task: QueuedTask, pinned: boolean, how: "run" | "claimed" = "run"): void {
  const s = st.s;
  // A literal, not a spread of `task`: V8 cloned the queued record's shape and grew it field by
  // field, 5 µs a task on the 2-core bench box (issue 23, bench:profile 1 KB @8).
  const { id, kind, deadlineMs } = task;
  s.tasks.set(id, { id, kind, deadlineMs, pinned, answeredEarly: false, terminateAtMs: null });
  if (!pinned) s.slotsInUse += 1;
  st.fx.push({ type: how, id });
}

/**
 * A thread took the slot its own task freed for this queued task. Its slot is counted now; the
 * task that freed it is counted until its end arrives, so for that while one more than the
 * slots is in use: the machine never starts a task it was not sure had room.
 */
function onStarted(st: Step, id: number): void {
  const task = st.s.queued.get(id);
  if (task === undefined) return;
  st.s.queued.delete(id);
  start(st, task, false, "claimed");
}

/** A slot freed: queued tasks start, oldest first, while slots are free. */
function startQueued(st: Step): void {
  const s = st.s;
  for (const task of s.queued.values()) {
    if (s.slotsInUse >= s.settings.slots) return;
    if (task.deadlineMs !== null && task.deadlineMs <= st.nowMs) {
      // Its deadline passed in this very step: answered as it would be queued, never run.
      dropQueued(st, task, "TIMEOUT", QUEUED_PAST_DEADLINE);
      continue;
    }
    s.queued.delete(task.id);
    start(st, task, false);
  }
}

/** The parent takes a task back: only one that has not started (its answer follows otherwise). */
function onUnqueue(st: Step, id: number): void {
  const s = st.s;
  if (s.queued.delete(id)) {
    st.fx.push({ type: "unqueued", id });
    return;
  }
  const why = s.tasks.has(id)
    ? "it already started; its answer follows"
    : "no such task here (it is over, or was never sent)";
  st.fx.push({ type: "unqueueIgnored", id, why });
}

function onTaskEnded(st: Step, id: number, tracked: readonly number[]): void {
  const s = st.s;
  // Started by a thread and over before the machine heard (its thread died just after).
  if (s.queued.has(id)) onStarted(st, id);
  const task = s.tasks.get(id);
  // Nobody will see what an answer given early carries: nothing may stay held for it.
  const keeps = task !== undefined && !task.answeredEarly && tracked.length > 0;
  if (!keeps && tracked.length > 0) st.fx.push({ type: "discard", id });
  if (task === undefined) return;
  s.tasks.delete(id);
  // A holder's group keeps its call's slot; otherwise the slot is free now.
  if (keeps) s.held.set(id, { indices: new Set(tracked), holdsSlot: !task.pinned });
  else if (!task.pinned) s.slotsInUse -= 1;
  st.fx.push({ type: "report", id, how: task.answeredEarly ? "ended" : "outcome" });
  startQueued(st);
  afterWork(st);
}

function onReleased(st: Step, id: number, index: number): void {
  const s = st.s;
  const group = s.held.get(id);
  if (group === undefined || !group.indices.delete(index) || group.indices.size > 0) return;
  s.held.delete(id);
  if (group.holdsSlot) {
    s.slotsInUse -= 1;
    startQueued(st);
  }
  afterWork(st);
}

/** A task ended or a group was let go: leave, or arm idle, once nothing runs or is held. */
function afterWork(st: Step): void {
  const s = st.s;
  if (s.tasks.size > 0) return;
  if (s.settings.singleUse && s.singleUseTaken) {
    if (s.held.size === 0) leave(st, "OK", "single use: its one task ended", "single_use");
  } else if (s.life.phase === "draining") {
    leaveDrained(st, s.life.reason);
  } else {
    armIdle(st);
  }
}

function onShutdown(st: Step, reason: string, timeoutMs: number): void {
  const s = st.s;
  if (s.life.phase !== "serving") return;
  // Children run until stopped: one not started yet is answered as stopped at once.
  for (const task of s.queued.values()) {
    if (task.kind === "child") {
      dropQueued(st, task, "ABORTED", `runner shutting down (${reason}) before the child started`);
    }
  }
  if (s.tasks.size === 0) {
    leaveDrained(st, reason);
    return;
  }
  moveAgent(s, { phase: "draining", reason, boundMs: timeoutMs, drainAtMs: st.nowMs + timeoutMs });
  for (const task of s.tasks.values()) {
    // Children run until stopped: a shutdown stops them (calls get the drain bound to finish).
    if (task.kind === "child" && task.terminateAtMs === null) {
      abort(st, task, "ABORTED", `runner shutting down (${reason})`);
    }
  }
}

/**
 * Nothing runs any more: leave. Calls still queued now wait only on slots held by tracked
 * values, which the runner disposes on its way out: they never start, and are answered so.
 */
function leaveDrained(st: Step, reason: string): void {
  for (const task of st.s.queued.values()) {
    dropQueued(st, task, "RUNNER_DOWN", "the runner shut down before the call started");
  }
  leave(st, "OK", `asked to shut down (${reason})`, null);
}

function armIdle(st: Step): void {
  const s = st.s;
  const afterMs = s.settings.idleShutdownAfterMs;
  if (afterMs === null || s.life.phase !== "serving" || s.tasks.size > 0 || s.held.size > 0) {
    // A queued task waits on a slot, so one of these is never empty while it does.
    return;
  }
  moveAgent(s, { phase: "serving", idleAtMs: st.nowMs + afterMs });
}
