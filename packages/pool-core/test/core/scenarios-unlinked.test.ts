/**
 * Issue 24: FLAME's `link: false`. Unlinked work outlives its caller (the host no longer
 * cancels it); the core's part is the stop: a runner running unlinked work takes no new work
 * and is asked to leave once that work ends, or after shutdownTimeout at the latest, and says
 * so (`unlinkedWait`). A pool drain waits for it like any running work.
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  grant,
  kill,
  reject,
  runningOnR1,
  type Scenario,
  scenario,
  shutdown,
  stopped,
} from "./harness.js";

function unlinked(h: Scenario, checkoutId: string, timeoutMs: number | null = null): Scenario {
  return h.send({ type: "checkout", checkoutId, timeoutMs, unlinked: true });
}

/** One ready runner r1 with 2 slots (shutdownTimeout 5 s); `c1` runs unlinked on it. */
function unlinkedOnR1(): Scenario {
  const config = { max: 1, maxConcurrency: 2, shutdownTimeoutMs: 5_000 };
  return runningOnR1(config, "c1", (h) => unlinked(h, "c1"));
}

describe("link: false at stop", () => {
  it("stop waits for unlinked work before asking its runner to leave, and says so", () => {
    const h = unlinkedOnR1();
    h.advanceTo(1_000).stop().expectNothing();
    expect(h.telemetry("unlinkedWait")).toEqual([
      { type: "unlinkedWait", runnerId: "r1", unlinked: 1, timeoutMs: 5_000 },
    ]);
    expect(h.snapshot().runners[0]?.state).toBe("draining");
    h.advanceTo(2_000).checkin("c1").expect(shutdown("r1", "stop"));
    h.runnerDown("r1", "left").expect(stopped());
  });

  it("asks the runner to leave after shutdownTimeout when the unlinked work has not ended", () => {
    const h = unlinkedOnR1();
    h.advanceTo(1_000).stop().expectNothing();
    h.advanceTo(5_999).expectNothing();
    h.advanceTo(6_000).expect(shutdown("r1", "stop"));
    // Then the usual bound: killed if it has not exited shutdownTimeout later.
    h.advanceTo(11_000).expect(kill("r1"));
  });

  it("a runner with only linked work is asked to leave at once (unchanged)", () => {
    const h = scenario({ max: 1, maxConcurrency: 2 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.stop().expect(shutdown("r1", "stop"));
    expect(h.telemetry("unlinkedWait")).toEqual([]);
  });

  it("counts only the unlinked work; the linked work on the same runner runs on meanwhile", () => {
    const h = unlinkedOnR1();
    h.checkout("c2").expect(grant("c2", "r1"));
    h.stop().expectNothing();
    expect(h.telemetry("unlinkedWait")[0]?.unlinked).toBe(1);
    h.checkin("c2").expectNothing();
    h.checkin("c1").expect(shutdown("r1", "stop"));
  });

  it("an unlinked caller still waiting at stop never ran: it is refused POOL_STOPPED", () => {
    const h = unlinkedOnR1();
    h.checkout("c2").expect(grant("c2", "r1"));
    unlinked(h, "c3").expectNothing();
    h.stop().expect(reject("c3", "POOL_STOPPED"));
  });

  it("a pool drain waits for unlinked work, then stops", () => {
    const h = unlinkedOnR1();
    h.drain(60_000).expectNothing();
    h.advanceTo(30_000).checkin("c1").expect(shutdown("r1", "stop"));
  });

  it("a drain whose bound passes hands unlinked work the stop's own wait", () => {
    const h = unlinkedOnR1();
    h.drain(1_000).advanceTo(1_000).expectNothing();
    expect(h.telemetry("unlinkedWait")).toHaveLength(1);
    h.advanceTo(6_000).expect(shutdown("r1", "stop"));
  });

  it("a runner already draining (a resize) gets the stop's bound when the pool stops", () => {
    const h = scenario({ max: 2, shutdownTimeoutMs: 5_000 }).start();
    unlinked(h, "c1").expect(boot("b1"));
    unlinked(h, "c2").expect(boot("b2"));
    h.bootSucceeds("b1", "r1")
      .bootSucceeds("b2", "r2")
      .expect(grant("c1", "r1"), grant("c2", "r2"));
    h.resize(0, 1).expectNothing();
    expect(h.snapshot().runners.map((r) => r.phase)).toEqual(["draining", "ready"]);
    h.stop().expectNothing();
    expect(h.telemetry("unlinkedWait").map((e) => e.runnerId)).toEqual(["r1", "r2"]);
    h.advanceTo(5_000).expect(shutdown("r1", "stop"), shutdown("r2", "stop"));
  });
});
