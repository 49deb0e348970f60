/**
 * The agent's lifecycle and its tasks' deadlines as one pure state machine, like the pool
 * core: `step(state, event, nowMs)` returns effects, `nextDeadline(state)` says when the
 * driver (lifecycle-driver.ts) must send a `tick`. No I/O, no clock, no timers here: the
 * failsafe, the dial backoff, idle, drain, deadlines and terminate graces are instants in the
 * state (agent-state.ts says what each phase holds and which effects the driver carries out).
 *
 * Expected races are no-ops: a cancel for a task that already ended, a second shutdown, a
 * task ending after the runner decided to leave, a dial that answers after a stop.
 */
import type { WorkKind } from "@flame-ts/pool-core/wire";
import {
  type AgentEffect,
  type AgentEvent,
  type AgentLife,
  type AgentState,
  DIAL_BACKOFF_MAX_MS,
  type ExitName,
  moveAgent,
  type TaskState,
} from "./agent-state.js";

interface Step {
  readonly s: AgentState;
  readonly nowMs: number;
  readonly fx: AgentEffect[];
}

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
      const task = state.tasks.get(event.id);
      if (task !== undefined && task.kind === "call" && !task.answeredEarly) {
        // The parent already answered its caller: from now on the slot waits for `ended`.
        task.answeredEarly = true;
        abort(st, task, "ABORTED", "cancelled by the caller");
      }
      break;
    }
    case "stopChild": {
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

/** When the driver must send the next `tick`; null when nothing is scheduled. */
export function nextDeadline(state: AgentState): number | null {
  const { life } = state;
  switch (life.phase) {
    case "connecting":
      return earliest(life.failsafeAtMs, life.redialAtMs);
    case "serving":
      return earliest(life.idleAtMs, state.taskDueAtMs);
    case "draining":
      return earliest(life.drainAtMs, state.taskDueAtMs);
    case "leaving":
      return null;
  }
}

function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null || a <= b ? a : b;
}

type Connecting = Extract<AgentLife, { phase: "connecting" }>;

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
  if (s.tasks.has(id)) {
    const message = `call id ${id} is already running; ids must be unique per link`;
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
  s.tasks.set(id, { id, kind, deadlineMs, answeredEarly: false, terminateAtMs: null });
  s.taskDueAtMs = earliest(s.taskDueAtMs, deadlineMs);
  if (s.life.idleAtMs !== null) moveAgent(s, { phase: "serving", idleAtMs: null });
  st.fx.push({ type: "run", id });
}

function onTaskEnded(st: Step, id: number, tracked: readonly number[]): void {
  const s = st.s;
  const task = s.tasks.get(id);
  if (task === undefined || task.answeredEarly) {
    // Nobody will see what its answer carries: nothing may stay held for it.
    if (tracked.length > 0) st.fx.push({ type: "discard", id });
  } else if (tracked.length > 0) {
    s.held.set(id, new Set(tracked));
  }
  if (task === undefined) return;
  s.tasks.delete(id);
  st.fx.push({ type: "report", id, how: task.answeredEarly ? "ended" : "outcome" });
  afterWork(st);
}

function onReleased(st: Step, id: number, index: number): void {
  const s = st.s;
  const indices = s.held.get(id);
  if (indices === undefined || !indices.delete(index) || indices.size > 0) return;
  s.held.delete(id);
  afterWork(st);
}

/** A task ended or a group was let go: leave, or arm idle, once nothing runs or is held. */
function afterWork(st: Step): void {
  const s = st.s;
  if (s.tasks.size > 0) return;
  if (s.settings.singleUse && s.singleUseTaken) {
    if (s.held.size === 0) leave(st, "OK", "single use: its one task ended", "single_use");
  } else if (s.life.phase === "draining") {
    leave(st, "OK", `asked to shut down (${s.life.reason})`, null);
  } else {
    armIdle(st);
  }
}

function onShutdown(st: Step, reason: string, timeoutMs: number): void {
  const s = st.s;
  if (s.life.phase !== "serving") return;
  if (s.tasks.size === 0) {
    leave(st, "OK", `asked to shut down (${reason})`, null);
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

function fireDeadlines(st: Step): void {
  const { life } = st.s;
  switch (life.phase) {
    case "connecting":
      fireConnectDeadlines(st, life);
      return;
    case "serving":
    case "draining":
      if (st.s.taskDueAtMs !== null && st.s.taskDueAtMs <= st.nowMs) fireTaskDeadlines(st);
      fireRunnerDeadlines(st);
      return;
    case "leaving":
      return;
  }
}

/** The failsafe first (FLAME's Terminator: no parent in time, no runner), then the next dial. */
function fireConnectDeadlines(st: Step, life: Connecting): void {
  const { settings } = st.s;
  if (life.failsafeAtMs !== null && life.failsafeAtMs <= st.nowMs) {
    const last =
      life.redialAtMs === null ? "no welcome before the failsafe deadline" : life.lastError;
    leave(
      st,
      "PARENT_UNREACHABLE",
      `parent unreachable at ${settings.parentUrl} within ${settings.failsafeTimeoutMs} ms (last error: ${last})`,
      null,
    );
    return;
  }
  if (life.redialAtMs !== null && life.redialAtMs <= st.nowMs) {
    moveAgent(st.s, { ...life, redialAtMs: null });
    st.fx.push({ type: "dial" });
  }
}

/** Answers and aborts tasks past their deadline, terminates those past their grace. */
function fireTaskDeadlines(st: Step): void {
  const s = st.s;
  let due: number | null = null;
  for (const task of s.tasks.values()) {
    if (!task.answeredEarly && task.deadlineMs !== null && task.deadlineMs <= st.nowMs) {
      task.answeredEarly = true;
      const error = {
        code: "TIMEOUT",
        name: "FlameError",
        message: "did not finish by its deadline (ctx.signal was aborted)",
      };
      st.fx.push({ type: "answeredEarly", id: task.id, error });
      abort(st, task, "TIMEOUT", error.message);
    }
    if (task.terminateAtMs !== null && task.terminateAtMs <= st.nowMs) {
      task.terminateAtMs = null;
      st.fx.push({ type: "terminate", id: task.id });
    }
    if (!task.answeredEarly) due = earliest(due, task.deadlineMs);
    due = earliest(due, task.terminateAtMs);
  }
  s.taskDueAtMs = due;
}

function fireRunnerDeadlines(st: Step): void {
  const s = st.s;
  const { life } = s;
  if (life.phase === "draining" && life.drainAtMs <= st.nowMs) {
    for (const task of s.tasks.values()) {
      if (task.answeredEarly) continue;
      task.answeredEarly = true;
      st.fx.push({
        type: "answeredEarly",
        id: task.id,
        error: {
          code: "RUNNER_DOWN",
          name: "FlameError",
          message: "the runner shut down before the call finished (drain bound reached)",
        },
      });
    }
    leave(
      st,
      "OK",
      `asked to shut down (${life.reason}); drain bound of ${life.boundMs} ms reached`,
      null,
    );
    return;
  }
  if (life.phase === "serving" && life.idleAtMs !== null && life.idleAtMs <= st.nowMs) {
    leave(st, "OK", `idle for ${s.settings.idleShutdownAfterMs} ms`, "idle");
  }
}

function abort(st: Step, task: TaskState, code: string, message: string): void {
  task.terminateAtMs = st.nowMs + st.s.settings.terminateGraceMs;
  st.s.taskDueAtMs = earliest(st.s.taskDueAtMs, task.terminateAtMs);
  st.fx.push({ type: "abort", id: task.id, error: { code, name: "FlameError", message } });
}

function refuse(st: Step, id: number, kind: WorkKind, code: string, message: string): void {
  st.fx.push({ type: "refuse", id, kind, error: { code, name: "FlameError", message } });
}

function armIdle(st: Step): void {
  const s = st.s;
  const afterMs = s.settings.idleShutdownAfterMs;
  if (afterMs === null || s.life.phase !== "serving" || s.tasks.size > 0 || s.held.size > 0) {
    return;
  }
  moveAgent(s, { phase: "serving", idleAtMs: st.nowMs + afterMs });
}

function leave(st: Step, exit: ExitName, reason: string, announce: string | null): void {
  moveAgent(st.s, { phase: "leaving" });
  st.fx.push({ type: "leave", exit, reason, announce });
}
