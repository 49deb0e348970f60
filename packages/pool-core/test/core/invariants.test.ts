/**
 * checkInvariants must actually catch broken states, or every test that relies on it proves
 * nothing. Each case builds a healthy pool, breaks one thing by hand, and expects the message.
 */
import { describe, expect, it } from "vitest";
import { checkInvariants, type PoolState } from "../../src/core/index.js";
import type { RunnerState } from "../../src/core/state.js";
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
      prevOnRunner: null,
      nextOnRunner: null,
      onRunner: null,
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
    s.free.remove(s.runners.get("r2") as RunnerState, 0);
    expect(() => checkInvariants(s)).toThrow(/runner r2 free-slot index is false, expected true/);
  });
});

describe("checkInvariants: tracked resources (issue 24)", () => {
  /** r1 holds `h` (tracked); p1 runs pinned to it, p2 and p3 queue behind it. */
  function withPinned(): PoolState {
    const h = scenario({ max: 1, maxConcurrency: 2 }).start();
    h.checkout("h").checkout("c").bootSucceeds("b1", "r1").convertToTracked("h");
    h.pinned("p1", "h").pinned("p2", "h").pinned("p3", "h");
    checkInvariants(h.state);
    return h.state;
  }

  function pinnedCall(s: PoolState, id: string) {
    const p = s.pinned.get(id);
    if (p === undefined) throw new Error(`${id} missing`);
    return p;
  }

  it("accepts a holder with a running pinned call and a queue", () => {
    expect(() => checkInvariants(withPinned())).not.toThrow();
  });

  it("catches a second pinned call running on one holder", () => {
    const s = withPinned();
    s.holders.get("h")?.queue.delete("p2");
    pinnedCall(s, "p2").running = true;
    expect(() => checkInvariants(s)).toThrow(/holders account for 2 pinned calls, the pool has 3/);
  });

  it("catches a pinned call on another runner than its holder", () => {
    const s = withPinned();
    s.pinned.set("p1", { ...pinnedCall(s, "p1"), runnerId: "r9" });
    expect(() => checkInvariants(s)).toThrow(/pinned call p1 is on r9, its holder on r1/);
  });

  it("catches a pinned call whose holder is gone", () => {
    const s = withPinned();
    s.pinned.set("p9", { ...pinnedCall(s, "p3"), id: "p9", holderId: "ghost" });
    expect(() => checkInvariants(s)).toThrow(/pinned call p9 has no holder ghost/);
  });

  it("catches pinned calls queued out of FIFO order", () => {
    const s = withPinned();
    const queue = s.holders.get("h")?.queue;
    queue?.delete("p2");
    queue?.add("p2");
    expect(() => checkInvariants(s)).toThrow(/pinned call p3 is out of FIFO order|p2 is out of/);
  });

  it("catches a queue on a holder that runs nothing", () => {
    const s = withPinned();
    const holder = s.holders.get("h");
    if (holder === undefined) throw new Error("h missing");
    s.pinned.delete("p1");
    holder.running = null;
    expect(() => checkInvariants(s)).toThrow(/2 calls queue on holder h, which runs none/);
  });

  it("catches a holder that holds no slot, or still has a backstop", () => {
    const s = withPinned();
    const checkout = s.checkouts.get("h");
    if (checkout === undefined) throw new Error("h missing");
    checkout.backstopAtMs = 5;
    expect(() => checkInvariants(s)).toThrow(/holder h has a backstop/);
    checkout.backstopAtMs = null;
    s.holders.set("c9", {
      id: "c9",
      runnerId: "r1",
      running: null,
      queue: new Set(),
      releasing: false,
    });
    expect(() => checkInvariants(s)).toThrow(/holder c9 holds no slot/);
  });

  it("catches a pinned call still queued after stop", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("h").bootSucceeds("b1", "r1").convertToTracked("h").pinned("p1", "h").stop();
    const p1 = h.state.pinned.get("p1");
    if (p1 === undefined) throw new Error("p1 missing");
    h.state.pinned.set("p2", { ...p1, id: "p2", running: false, seq: 99 });
    h.state.holders.get("h")?.queue.add("p2");
    expect(() => checkInvariants(h.state)).toThrow(/pinned call p2 queues after stop/);
  });

  it("catches a pinned call that also holds a slot", () => {
    const s = withPinned();
    s.waiters.set("p2", waiter("p2", 99));
    expect(() => checkInvariants(s)).toThrow(/pinned call p2 also holds a slot, waits/);
  });
});
