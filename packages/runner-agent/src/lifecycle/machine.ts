/**
 * The agent's lifecycle and its tasks' deadlines as one pure state machine, like the pool
 * core: `step(state, event, nowMs)` returns effects, `nextDeadline(state)` says when the
 * driver (session.ts) must send a `tick`. No I/O, no clock, no timers here.
 *
 * Phases: serving → draining → leaving (one way). What each effect asks of the driver:
 * - run: start the task on the executor.       - refuse: answer it with an error, never ran.
 * - answerEarly: answer TIMEOUT now; the work goes on until it stops (`stillRunning`).
 * - abort: abort the task's ctx.signal.         - terminate: the grace passed, kill its thread.
 * - report: the task ended; send its outcome, or `ended` when it was answered early.
 * - leave: exit with this code (announcing `announce` to the parent first when set).
 *
 * Expected races are no-ops: a cancel for a task that already ended, a second shutdown,
 * a task ending after the runner decided to leave.
 */

export type WorkKind = "call" | "cast" | "child";

export interface WireErrorLike {
  readonly code: string;
  readonly name: string;
  readonly message: string;
}

export interface LifecycleSettings {
  /** Leave after this long with no task; null = the parent decides. */
  readonly idleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  /** After a deadline or cancel, how long before the task's thread is terminated. */
  readonly terminateGraceMs: number;
}

interface TaskState {
  readonly id: number;
  readonly kind: WorkKind;
  readonly deadlineMs: number | null;
  /** The parent has its answer (TIMEOUT sent, or it cancelled): report `ended` at the end. */
  answered: boolean;
  /** Its signal was aborted; terminate it if it still runs at this time. */
  terminateAtMs: number | null;
}

export type Phase = "serving" | "draining" | "leaving";

export interface AgentState {
  readonly settings: LifecycleSettings;
  phase: Phase;
  readonly tasks: Map<number, TaskState>;
  singleUseTaken: boolean;
  idleAtMs: number | null;
  drainAtMs: number | null;
  drainReason: string;
  drainBoundMs: number;
  /**
   * No task deadline or terminate time is earlier than this (null: none is set). Kept as a
   * lower bound, not exact (a task that ends leaves it stale-early), so work and answers cost
   * no scan of every task; the scan runs only once this instant passes, and tightens it.
   */
  taskDueAtMs: number | null;
}

export type AgentEvent =
  | { readonly type: "start" }
  | {
      readonly type: "work";
      readonly id: number;
      readonly kind: WorkKind;
      /** Calls only: how long it may run from now; null = no deadline. */
      readonly timeoutMs: number | null;
    }
  /** The parent gave up on a call (it already answered its caller). */
  | { readonly type: "cancel"; readonly id: number }
  | { readonly type: "stopChild"; readonly id: number }
  | { readonly type: "taskEnded"; readonly id: number }
  | { readonly type: "shutdown"; readonly reason: string; readonly timeoutMs: number }
  /** SIGTERM/SIGINT or an in-process stop. */
  | { readonly type: "stop"; readonly reason: string }
  | { readonly type: "linkLost"; readonly reason: string }
  | { readonly type: "tick" };

export type ExitCodeName = "OK" | "LINK_LOST";

export type AgentEffect =
  | { readonly type: "run"; readonly id: number }
  | {
      readonly type: "refuse";
      readonly id: number;
      readonly kind: WorkKind;
      readonly error: WireErrorLike;
    }
  | { readonly type: "answerEarly"; readonly id: number; readonly error: WireErrorLike }
  | { readonly type: "abort"; readonly id: number; readonly error: WireErrorLike }
  | { readonly type: "terminate"; readonly id: number }
  | { readonly type: "report"; readonly id: number; readonly how: "outcome" | "ended" }
  | {
      readonly type: "leave";
      readonly exit: ExitCodeName;
      readonly reason: string;
      readonly announce: string | null;
    };

export function initialAgentState(settings: LifecycleSettings): AgentState {
  return {
    settings,
    phase: "serving",
    tasks: new Map(),
    singleUseTaken: false,
    idleAtMs: null,
    drainAtMs: null,
    drainReason: "",
    drainBoundMs: 0,
    taskDueAtMs: null,
  };
}

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
  if (state.phase === "leaving") return { state, effects: [] };
  switch (event.type) {
    case "start":
      armIdle(st);
      break;
    case "work":
      onWork(st, event.id, event.kind, event.timeoutMs);
      break;
    case "cancel": {
      const task = state.tasks.get(event.id);
      if (task !== undefined && task.kind === "call" && !task.answered) {
        task.answered = true;
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
      onTaskEnded(st, event.id);
      break;
    case "shutdown":
      onShutdown(st, event.reason, event.timeoutMs);
      break;
    case "stop":
      leave(st, "OK", event.reason, "terminated");
      break;
    case "linkLost":
      leave(st, "LINK_LOST", `parent link lost: ${event.reason}`, null);
      break;
    case "tick":
      break;
  }
  fireDeadlines(st);
  return { state, effects: st.fx };
}

/** When the driver must send the next `tick`; null when nothing is scheduled. */
export function nextDeadline(state: AgentState): number | null {
  if (state.phase === "leaving") return null;
  return earliest(earliest(state.idleAtMs, state.drainAtMs), state.taskDueAtMs);
}

function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null || a <= b ? a : b;
}

function onWork(st: Step, id: number, kind: WorkKind, timeoutMs: number | null): void {
  const s = st.s;
  if (s.tasks.has(id)) {
    refuse(
      st,
      id,
      kind,
      "PROTOCOL",
      `call id ${id} is already running; ids must be unique per link`,
    );
    return;
  }
  if (s.phase !== "serving" || s.singleUseTaken) {
    refuse(st, id, kind, "RUNNER_DOWN", "the runner is shutting down and takes no new work");
    return;
  }
  if (s.settings.singleUse) s.singleUseTaken = true;
  const deadlineMs = kind === "call" && timeoutMs !== null ? st.nowMs + timeoutMs : null;
  s.tasks.set(id, { id, kind, deadlineMs, answered: false, terminateAtMs: null });
  s.taskDueAtMs = earliest(s.taskDueAtMs, deadlineMs);
  s.idleAtMs = null;
  st.fx.push({ type: "run", id });
}

function onTaskEnded(st: Step, id: number): void {
  const s = st.s;
  const task = s.tasks.get(id);
  if (task === undefined) return;
  s.tasks.delete(id);
  st.fx.push({ type: "report", id, how: task.answered ? "ended" : "outcome" });
  if (s.tasks.size > 0) return;
  if (s.settings.singleUse && s.singleUseTaken) {
    leave(st, "OK", "single use: its one task ended", "single_use");
  } else if (s.phase === "draining") {
    leave(st, "OK", `asked to shut down (${s.drainReason})`, null);
  } else {
    armIdle(st);
  }
}

function onShutdown(st: Step, reason: string, timeoutMs: number): void {
  const s = st.s;
  if (s.phase !== "serving") return;
  s.phase = "draining";
  s.drainReason = reason;
  s.idleAtMs = null;
  if (s.tasks.size === 0) {
    leave(st, "OK", `asked to shut down (${reason})`, null);
    return;
  }
  for (const task of s.tasks.values()) {
    // Children run until stopped: a shutdown stops them (calls get the drain bound to finish).
    if (task.kind === "child" && task.terminateAtMs === null) {
      abort(st, task, "ABORTED", `runner shutting down (${reason})`);
    }
  }
  s.drainAtMs = st.nowMs + timeoutMs;
  s.drainBoundMs = timeoutMs;
}

function fireDeadlines(st: Step): void {
  const s = st.s;
  if (s.phase === "leaving") return;
  if (s.taskDueAtMs !== null && s.taskDueAtMs <= st.nowMs) fireTaskDeadlines(st);
  fireRunnerDeadlines(st);
}

/** Answers and aborts tasks past their deadline, terminates those past their grace. */
function fireTaskDeadlines(st: Step): void {
  const s = st.s;
  let due: number | null = null;
  for (const task of s.tasks.values()) {
    if (!task.answered && task.deadlineMs !== null && task.deadlineMs <= st.nowMs) {
      task.answered = true;
      const error = {
        code: "TIMEOUT",
        name: "FlameError",
        message: "did not finish by its deadline (ctx.signal was aborted)",
      };
      st.fx.push({ type: "answerEarly", id: task.id, error });
      abort(st, task, "TIMEOUT", error.message);
    }
    if (task.terminateAtMs !== null && task.terminateAtMs <= st.nowMs) {
      task.terminateAtMs = null;
      st.fx.push({ type: "terminate", id: task.id });
    }
    if (!task.answered) due = earliest(due, task.deadlineMs);
    due = earliest(due, task.terminateAtMs);
  }
  s.taskDueAtMs = due;
}

function fireRunnerDeadlines(st: Step): void {
  const s = st.s;
  if (s.drainAtMs !== null && s.drainAtMs <= st.nowMs) {
    s.drainAtMs = null;
    for (const task of s.tasks.values()) {
      if (task.answered) continue;
      task.answered = true;
      st.fx.push({
        type: "answerEarly",
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
      `asked to shut down (${s.drainReason}); drain bound of ${s.drainBoundMs} ms reached`,
      null,
    );
    return;
  }
  if (s.idleAtMs !== null && s.idleAtMs <= st.nowMs) {
    s.idleAtMs = null;
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
  if (afterMs === null || s.phase !== "serving" || s.tasks.size > 0) return;
  s.idleAtMs = st.nowMs + afterMs;
}

function leave(st: Step, exit: ExitCodeName, reason: string, announce: string | null): void {
  const s = st.s;
  s.phase = "leaving";
  s.idleAtMs = null;
  s.drainAtMs = null;
  st.fx.push({ type: "leave", exit, reason, announce });
}
