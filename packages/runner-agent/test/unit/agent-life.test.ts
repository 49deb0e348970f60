/**
 * The agent's own life as a checked union: connecting (with the failsafe and the dial backoff
 * on virtual time, no real timer anywhere), serving, draining, leaving, and the table that
 * refuses every other move.
 */
import { describe, expect, it } from "vitest";
import {
  AGENT_TRANSITIONS,
  type AgentEffect,
  type AgentEvent,
  type AgentLife,
  type AgentPhase,
  initialAgentState,
  type LifecycleSettings,
  moveAgent,
} from "../../src/lifecycle/agent-state.js";
import { nextDeadline, step } from "../../src/lifecycle/machine.js";
import { LifecycleTransitionError } from "../../src/lifecycle/transition.js";

const SETTINGS: LifecycleSettings = {
  parentUrl: "ws://parent.test:4000",
  failsafeTimeoutMs: 1_000,
  idleShutdownAfterMs: null,
  singleUse: false,
  terminateGraceMs: 100,
  slots: 4,
};

/** A machine that has not dialed yet, started at virtual time `startMs`. */
function connecting(settings: Partial<LifecycleSettings> = {}, startMs = 0) {
  const state = initialAgentState({ ...SETTINGS, ...settings }, startMs);
  let nowMs = startMs;
  const send = (event: AgentEvent): AgentEffect[] => [...step(state, event, nowMs).effects];
  return {
    state,
    send,
    /** Jumps to the next deadline and ticks there; its effects. */
    tickAtNextDeadline(): AgentEffect[] {
      const due = nextDeadline(state);
      if (due === null) throw new Error("nothing is scheduled");
      nowMs = due;
      return send({ type: "tick" });
    },
    at(ms: number) {
      nowMs = ms;
    },
    get nowMs() {
      return nowMs;
    },
  };
}

describe("connecting and the failsafe, on virtual time", () => {
  it("dials at once, then again after a doubling backoff, and leaves (exit 2) at the failsafe naming the last error", () => {
    const m = connecting({ failsafeTimeoutMs: 1_000 }, 10_000);
    expect(m.state.life).toMatchObject({ phase: "connecting", failsafeAtMs: 11_000 });
    expect(m.send({ type: "start" })).toEqual([{ type: "dial" }]);
    const dialedAt: number[] = [10_000];
    for (;;) {
      m.send({ type: "unreachable", reason: `ECONNREFUSED #${dialedAt.length}` });
      const effects = m.tickAtNextDeadline();
      if (effects[0]?.type !== "dial") {
        expect(effects).toEqual([
          {
            type: "leave",
            exit: "PARENT_UNREACHABLE",
            reason: `parent unreachable at ws://parent.test:4000 within 1000 ms (last error: ECONNREFUSED #${dialedAt.length})`,
            announce: null,
          },
        ]);
        break;
      }
      dialedAt.push(m.nowMs);
    }
    // Each failure answers at once here, so the gaps are the backoff: 50, 100, 200, 400 ms;
    // the next would be at 11,550, past the failsafe, which fired at exactly 11,000.
    expect(dialedAt).toEqual([10_000, 10_050, 10_150, 10_350, 10_750]);
    expect(m.nowMs).toBe(11_000);
    expect(nextDeadline(m.state)).toBeNull();
  });

  it("the backoff between attempts stops doubling at 1 s", () => {
    const m = connecting({ failsafeTimeoutMs: 60_000 });
    m.send({ type: "start" });
    const gaps: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const failedAt = m.nowMs;
      m.send({ type: "unreachable", reason: "ECONNREFUSED" });
      expect(m.tickAtNextDeadline()).toEqual([{ type: "dial" }]);
      gaps.push(m.nowMs - failedAt);
    }
    expect(gaps).toEqual([50, 100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it("an attempt still in flight at the failsafe: leaves saying no welcome came", () => {
    const m = connecting({ failsafeTimeoutMs: 2_000 });
    m.send({ type: "start" });
    expect(nextDeadline(m.state)).toBe(2_000);
    expect(m.tickAtNextDeadline()).toMatchObject([
      {
        type: "leave",
        exit: "PARENT_UNREACHABLE",
        reason: expect.stringContaining("(last error: no welcome before the failsafe deadline)"),
      },
    ]);
    // The attempt answers late: nothing more happens.
    expect(m.send({ type: "welcomed" })).toEqual([]);
    expect(m.state.life).toEqual({ phase: "leaving" });
  });

  it("a welcome before the failsafe ends it: nothing is scheduled while serving with no idle bound", () => {
    const m = connecting();
    m.send({ type: "start" });
    m.at(999);
    expect(m.send({ type: "welcomed" })).toEqual([]);
    expect(m.send({ type: "caughtUp" })).toEqual([]);
    expect(m.state.life).toEqual({ phase: "serving", idleAtMs: null });
    expect(nextDeadline(m.state)).toBeNull();
  });

  it("an attempt that reached the parent and said its entry is loading is not held to the failsafe; losing it starts the failsafe again", () => {
    const m = connecting({ failsafeTimeoutMs: 1_000 });
    m.send({ type: "start" });
    m.at(200);
    expect(m.send({ type: "entryLoading" })).toEqual([]);
    // Only the entry is awaited now: the parent's boot deadline bounds it, not this failsafe.
    expect(nextDeadline(m.state)).toBeNull();
    m.at(50_000);
    expect(m.send({ type: "tick" })).toEqual([]);
    // The parent hung up (its boot deadline passed): retry within a fresh failsafe.
    m.send({ type: "unreachable", reason: "closed before welcome (code 1006)" });
    expect(m.state.life).toMatchObject({ phase: "connecting", failsafeAtMs: 51_000 });
    expect(m.tickAtNextDeadline()).toEqual([{ type: "dial" }]);
  });

  it("an entry that fails to load leaves with exit BAD_CONFIG and its reason, whatever the link is doing", () => {
    const m = connecting();
    m.send({ type: "start" });
    m.send({ type: "entryLoading" });
    expect(m.send({ type: "entryFailed", reason: "could not load entry x.js: boom" })).toEqual([
      {
        type: "leave",
        exit: "BAD_CONFIG",
        reason: "could not load entry x.js: boom",
        announce: null,
      },
    ]);
    expect(m.send({ type: "welcomed" })).toEqual([]);
  });

  it("a refusal is final: exit 4 at once, no retry", () => {
    const m = connecting();
    m.send({ type: "start" });
    expect(
      m.send({ type: "refused", reason: "refused by parent: HTTP 401 at the upgrade" }),
    ).toEqual([
      {
        type: "leave",
        exit: "REFUSED",
        reason: "refused by parent: HTTP 401 at the upgrade",
        announce: null,
      },
    ]);
    expect(nextDeadline(m.state)).toBeNull();
  });

  it("a stop while connecting leaves OK without announcing (no parent to tell); a late welcome is ignored", () => {
    const m = connecting();
    m.send({ type: "start" });
    expect(m.send({ type: "stop", reason: "stopped by SIGTERM" })).toEqual([
      { type: "leave", exit: "OK", reason: "stopped by SIGTERM", announce: null },
    ]);
    expect(m.send({ type: "welcomed" })).toEqual([]);
  });

  it("work the parent sent right behind its welcome runs before an idle bound of 0 can fire", () => {
    const m = connecting({ idleShutdownAfterMs: 0 });
    m.send({ type: "start" });
    m.send({ type: "welcomed" });
    expect(m.send({ type: "work", id: 1, kind: "call", timeoutMs: null })).toEqual([
      { type: "run", id: 1 },
    ]);
    expect(m.send({ type: "caughtUp" })).toEqual([]);
    expect(m.send({ type: "taskEnded", id: 1 })).toMatchObject([
      { type: "report", id: 1, how: "outcome" },
      { type: "leave", exit: "OK", announce: "idle" },
    ]);
  });

  it("with nothing sent behind the welcome, an idle bound of 0 leaves once caught up", () => {
    const m = connecting({ idleShutdownAfterMs: 0 });
    m.send({ type: "start" });
    expect(m.send({ type: "welcomed" })).toEqual([]);
    expect(m.send({ type: "caughtUp" })).toMatchObject([{ type: "leave", announce: "idle" }]);
  });
});

describe("the agent's transition table", () => {
  const SAMPLE: Record<AgentPhase, AgentLife> = {
    connecting: {
      phase: "connecting",
      failsafeAtMs: 1,
      redialAtMs: null,
      backoffMs: 50,
      lastError: "",
    },
    serving: { phase: "serving", idleAtMs: null },
    draining: { phase: "draining", reason: "stop", boundMs: 1, drainAtMs: 1 },
    leaving: { phase: "leaving" },
  };
  const phases = Object.keys(SAMPLE) as AgentPhase[];

  it("allows exactly the moves its table lists; any other throws naming both phases", () => {
    for (const from of phases) {
      for (const to of phases) {
        const state = initialAgentState(SETTINGS, 0);
        state.life = SAMPLE[from];
        const allowed = (AGENT_TRANSITIONS[from] as readonly AgentPhase[]).includes(to);
        if (allowed) {
          moveAgent(state, SAMPLE[to]);
          expect(state.life).toBe(SAMPLE[to]);
        } else {
          expect(() => moveAgent(state, SAMPLE[to])).toThrow(LifecycleTransitionError);
          expect(() => moveAgent(state, SAMPLE[to])).toThrow(
            `agent: illegal transition ${from} -> ${to}`,
          );
          expect(state.life).toBe(SAMPLE[from]);
        }
      }
    }
  });

  it("is one way: nothing returns to connecting, nothing leaves leaving", () => {
    expect(AGENT_TRANSITIONS.leaving).toEqual([]);
    for (const from of phases.filter((p) => p !== "connecting")) {
      expect(AGENT_TRANSITIONS[from]).not.toContain("connecting");
    }
    expect(AGENT_TRANSITIONS.draining).toEqual(["leaving"]);
  });
});
