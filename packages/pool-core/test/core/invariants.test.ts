/**
 * checkInvariants must actually catch broken states, or every test that relies on it proves
 * nothing. Each case builds a healthy pool, breaks one thing by hand, and expects the message.
 */
import { describe, expect, it } from "vitest";
import { checkInvariants, type PoolState } from "../../src/core/index.js";
import { scenario } from "./harness.js";

/** Two ready runners (capacity 2 each, max 2): r1 holds c1, r2 is idle. */
function healthy(): PoolState {
  const h = scenario({ max: 2, maxConcurrency: 2 }).start();
  h.checkout("c1").checkout("c2").checkout("c3").bootSucceeds("b1", "r1").bootSucceeds("b2", "r2");
  h.checkin("c2").checkin("c3");
  checkInvariants(h.state);
  return h.state;
}

function waiter(id: string, seq: number) {
  return {
    id,
    timeoutMs: null,
    callDeadlineMs: null,
    deadlineMs: null,
    cold: false,
    unboundedRun: false,
    enqueuedAtMs: 0,
    retry: null,
    unlinked: false,
    seq,
  };
}

describe("checkInvariants", () => {
  it("accepts a healthy pool", () => {
    expect(() => checkInvariants(healthy())).not.toThrow();
  });

  it("catches a load that does not match the checkouts", () => {
    const s = healthy();
    const r1 = s.runners.get("r1");
    if (r1 === undefined) throw new Error("r1 missing");
    r1.load = 2;
    expect(() => checkInvariants(s)).toThrow(/load 2 but 1 checkouts/);
  });

  it("catches a checkout on a runner that is gone", () => {
    const s = healthy();
    s.checkouts.set("ghost", {
      id: "ghost",
      runnerId: "r9",
      childId: null,
      backstopAtMs: null,
      retry: null,
      unlinked: false,
    });
    expect(() => checkInvariants(s)).toThrow(/loads sum to 1 but there are 2 active checkouts/);
  });

  it("catches more runners than max", () => {
    const s = healthy();
    s.pendingBoots.set("b9", {
      id: "b9",
      runnerId: "r9",
      isMin: false,
      startedAtMs: 0,
      deadlineMs: 1,
    });
    expect(() => checkInvariants(s)).toThrow(/3 ready\/booting runners exceed max 2/);
  });

  it("catches a caller waiting while a runner has a free slot", () => {
    const s = healthy();
    s.waiters.set("c9", waiter("c9", 99));
    expect(() => checkInvariants(s)).toThrow(/callers wait while 2 ready runners have a free slot/);
  });

  it("catches waiters out of FIFO order", () => {
    const h = scenario({ max: 1 }).start().checkout("c1").checkout("c2");
    h.state.waiters.delete("c1");
    h.state.waiters.set("c1", waiter("c1", 1));
    expect(() => checkInvariants(h.state)).toThrow(/waiter c1 is out of FIFO order/);
  });

  it("catches more waiters than maxWaiting", () => {
    const h = scenario({ max: 1, maxWaiting: 1 }).start().checkout("c1");
    h.state.waiters.set("c2", waiter("c2", 99));
    expect(() => checkInvariants(h.state)).toThrow(/2 callers wait, more than maxWaiting 1/);
  });

  it("catches a min count that drifted from the runners", () => {
    const s = healthy();
    s.counts.min += 1;
    expect(() => checkInvariants(s)).toThrow(/min count 1, expected 0/);
  });

  it("catches a free-slot index that disagrees with the runners", () => {
    const s = healthy();
    s.free.remove("r2", 0);
    expect(() => checkInvariants(s)).toThrow(/runner r2 free-slot index is false, expected true/);
  });
});
