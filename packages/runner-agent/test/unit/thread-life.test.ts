/**
 * A worker thread's life and a session task's record as checked unions: the moves their
 * tables allow, an impossible move throwing with both phases named, and what each end of a
 * thread tells the tasks that were on it.
 */
import { describe, expect, it } from "vitest";
import type { TaskSpec } from "../../src/executor/executor.js";
import {
  moveSessionTask,
  SESSION_TASK_TRANSITIONS,
  type SessionTask,
  type SessionTaskPhase,
} from "../../src/lifecycle/session-task.js";
import {
  lostError,
  moveThread,
  THREAD_TRANSITIONS,
  type ThreadLife,
  type ThreadPhase,
  threadExited,
} from "../../src/lifecycle/thread-life.js";
import { LifecycleTransitionError } from "../../src/lifecycle/transition.js";

const THREAD_SAMPLE: Record<ThreadPhase, ThreadLife> = {
  running: { phase: "running" },
  crashed: { phase: "crashed", error: new Error("boom") },
  terminating: { phase: "terminating", forTaskId: 3 },
  gone: { phase: "gone", end: { how: "exited", code: 0 } },
};

describe("a worker thread's life", () => {
  it("allows exactly the moves its table lists; any other throws naming both phases", () => {
    const phases = Object.keys(THREAD_SAMPLE) as ThreadPhase[];
    for (const from of phases) {
      for (const to of phases) {
        const allowed = (THREAD_TRANSITIONS[from] as readonly ThreadPhase[]).includes(to);
        const move = () => moveThread(THREAD_SAMPLE[from], THREAD_SAMPLE[to]);
        if (allowed) {
          expect(move()).toBe(THREAD_SAMPLE[to]);
        } else {
          expect(move).toThrow(LifecycleTransitionError);
          expect(move).toThrow(`worker thread: illegal transition ${from} -> ${to}`);
        }
      }
    }
  });

  it("its exit ends it for the first cause: terminated, crashed, or the bare exit code", () => {
    expect(threadExited(THREAD_SAMPLE.terminating, 1)).toEqual({
      phase: "gone",
      end: { how: "terminated", forTaskId: 3 },
    });
    expect(threadExited(THREAD_SAMPLE.crashed, 1)).toMatchObject({
      phase: "gone",
      end: { how: "crashed", error: { message: "boom" } },
    });
    expect(threadExited(THREAD_SAMPLE.running, 7)).toEqual({
      phase: "gone",
      end: { how: "exited", code: 7 },
    });
    // It exits once: a second exit is a bug, not a no-op.
    expect(() => threadExited(THREAD_SAMPLE.gone, 0)).toThrow("illegal transition gone -> gone");
  });

  it("tells each task on it why it has no answer of its own", () => {
    const terminated = { how: "terminated", forTaskId: 3 } as const;
    expect(lostError(terminated, 3, null)).toMatchObject({ code: "TIMEOUT" });
    expect(lostError(terminated, 4, null)).toMatchObject({
      code: "RUNNER_DOWN",
      message: expect.stringContaining("shared a thread with call 3"),
    });
    const oom = Object.assign(new Error("out of memory"), { code: "ERR_WORKER_OUT_OF_MEMORY" });
    expect(lostError({ how: "crashed", error: oom }, 1, 64)).toMatchObject({
      code: "REMOTE_ERROR",
      name: "ERR_WORKER_OUT_OF_MEMORY",
      message: expect.stringContaining("execution.threadMemoryMb: 64"),
    });
    const crash = new TypeError("x is not a function");
    expect(lostError({ how: "crashed", error: crash }, 1, null)).toEqual({
      code: "REMOTE_ERROR",
      name: "TypeError",
      message: "x is not a function",
      stack: crash.stack,
    });
    expect(lostError({ how: "exited", code: 7 }, 1, null)).toMatchObject({
      code: "REMOTE_ERROR",
      name: "ThreadExited",
      message: expect.stringContaining("exited with code 7"),
    });
  });
});

describe("a session task's record", () => {
  const spec: TaskSpec = {
    id: 9,
    kind: "call",
    fn: "echo",
    input: new Uint8Array(),
    deadlineMs: null,
    traceparent: undefined,
  };
  const SAMPLE: Record<SessionTaskPhase, SessionTask> = {
    received: { phase: "received", kind: "call", spec },
    queued: { phase: "queued", kind: "call", spec, staged: false },
    running: { phase: "running", kind: "call" },
    settled: { phase: "settled", kind: "call", frame: new Uint8Array([1]) },
  };

  it("goes received → (queued →) running → settled and nowhere else; a wrong move names the task and both phases", () => {
    const phases = Object.keys(SAMPLE) as SessionTaskPhase[];
    for (const from of phases) {
      for (const to of phases) {
        const allowed = (SESSION_TASK_TRANSITIONS[from] as readonly SessionTaskPhase[]).includes(
          to,
        );
        const move = () => moveSessionTask(9, SAMPLE[from], SAMPLE[to]);
        if (allowed) expect(move()).toBe(SAMPLE[to]);
        else expect(move).toThrow(`task 9: illegal transition ${from} -> ${to}`);
      }
    }
    expect(SESSION_TASK_TRANSITIONS).toEqual({
      received: ["queued", "running"],
      queued: ["running"],
      running: ["settled"],
      settled: [],
    });
  });
});
