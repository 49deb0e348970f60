/**
 * The lifecycle tests' machine on virtual time (lifecycle.test.ts, lifecycle-queue.test.ts):
 * welcomed at time 0, fed events, and moved on from deadline to deadline.
 */
import {
  type AgentEffect,
  type AgentEvent,
  initialAgentState,
  type LifecycleSettings,
} from "../../src/lifecycle/agent-state.js";
import { nextDeadline, step } from "../../src/lifecycle/machine.js";

/** A machine the parent has just welcomed, at virtual time 0. */
export function machine(settings: Partial<LifecycleSettings> = {}) {
  const state = initialAgentState(
    {
      parentUrl: "ws://parent.test",
      failsafeTimeoutMs: 5_000,
      idleShutdownAfterMs: null,
      singleUse: false,
      terminateGraceMs: 1_000,
      slots: 8,
      ...settings,
    },
    0,
  );
  let nowMs = 0;
  const send = (event: AgentEvent): AgentEffect[] => [...step(state, event, nowMs).effects];
  for (const type of ["start", "welcomed", "caughtUp"] as const) send({ type });
  const types = (effects: AgentEffect[]) =>
    effects.map((e) => `${e.type}${"id" in e ? `:${e.id}` : ""}`);
  return {
    state,
    send,
    types,
    /** Jumps to `atMs`, ticking at each deadline on the way; returns every effect. */
    advanceTo(atMs: number): AgentEffect[] {
      const out: AgentEffect[] = [];
      for (;;) {
        const due = nextDeadline(state);
        if (due === null || due > atMs) break;
        nowMs = due;
        out.push(...send({ type: "tick" }));
      }
      nowMs = atMs;
      return out;
    },
    get nowMs() {
      return nowMs;
    },
  };
}
