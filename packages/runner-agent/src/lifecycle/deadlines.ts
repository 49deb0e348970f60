/**
 * The agent machine's deadlines (machine.ts): when the driver must send the next `tick`, and
 * what falls due at an instant (the failsafe and the next dial, tasks past their deadline or
 * their terminate grace, the drain bound, idle).
 */
import { type AgentState, moveAgent } from "./agent-state.js";
import {
  abort,
  type Connecting,
  dropQueued,
  earliest,
  leave,
  QUEUED_PAST_DEADLINE,
  type Step,
} from "./machine-effects.js";

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

/** Everything due at `st.nowMs`, in order: what the phase waits on, then tasks, then the runner. */
export function fireDeadlines(st: Step): void {
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

/**
 * Answers and aborts tasks past their deadline, terminates those past their grace; answers
 * queued tasks past their deadline (they never run).
 */
function fireTaskDeadlines(st: Step): void {
  const s = st.s;
  let due: number | null = null;
  for (const task of s.queued.values()) {
    if (task.deadlineMs === null) continue;
    if (task.deadlineMs <= st.nowMs) dropQueued(st, task, "TIMEOUT", QUEUED_PAST_DEADLINE);
    else due = earliest(due, task.deadlineMs);
  }
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
    for (const task of s.queued.values()) {
      dropQueued(
        st,
        task,
        "RUNNER_DOWN",
        "the runner shut down before the call started (drain bound reached while it waited queued)",
      );
    }
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
