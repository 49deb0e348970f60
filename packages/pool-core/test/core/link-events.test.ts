/**
 * What the core does with what the link reports (issue 21): a runner that never answers is
 * failed by the core's backstop on virtual time; a runner that announces it is leaving gets no
 * new work; a runner that is down is never granted again; the first caller starts the pool.
 */
import { describe, expect, it } from "vitest";
import { boot, failCheckout, grant, kill, scenario, shutdown, stopped } from "./harness.js";

describe("the backstop for a runner that never answers", () => {
  it("fails the call TIMEOUT at its run deadline plus deadlineGraceMs, and keeps the slot held", () => {
    const h = scenario({ max: 1, deadlineGraceMs: 250 }).start();
    h.checkout("c1", 5_000).expect(boot("b1"));
    h.advanceTo(100).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    expect(h.runDeadline("c1")).toBe(5_100); // cold: a full timeout from the grant
    expect(h.nextDeadline()).toBe(5_350);
    h.advanceTo(5_349).expectNothing();
    h.advanceTo(5_350).expect(failCheckout("c1", "TIMEOUT"));
    expect(h.errorOf("c1")?.message).toMatch(/did not answer within 250 ms.*link\.deadlineGrace/);
    // The work may still run on the runner: its slot is taken until the host checks it in.
    expect(h.inflight("r1")).toBe(1);
    h.checkout("c2", 10_000).expectNothing();
    h.checkin("c1").expect(grant("c2", "r1"));
  });

  it("is disarmed by the answer: a call checked in before it leaves no deadline", () => {
    const h = scenario({ max: 1 }).start().checkout("c1", 5_000);
    h.advanceTo(100).bootSucceeds("b1", "r1").expect(boot("b1"), grant("c1", "r1"));
    h.advanceTo(4_000).checkin("c1");
    expect(h.nextDeadline()).toBeNull();
    h.advanceTo(6_100).expectNothing();
  });

  it("fires once: a runner that then dies fails the caller's checkout again, as RUNNER_DOWN", () => {
    const h = scenario({ max: 1, deadlineGraceMs: 0 }).start().checkout("c1", 1_000);
    h.bootSucceeds("b1", "r1").expect(boot("b1"), grant("c1", "r1"));
    h.advanceTo(1_000).expect(failCheckout("c1", "TIMEOUT"));
    h.advanceTo(50_000).expectNothing();
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"));
  });

  it("is not kept for casts and placed children: their timeout bounds only the wait", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: null }).start();
    h.send({ type: "checkout", checkoutId: "cast", timeoutMs: 1_000, unboundedRun: true });
    h.bootSucceeds("b1", "r1").expect(boot("b1"), grant("cast", "r1"));
    expect(h.runDeadline("cast")).toBeNull();
    expect(h.nextDeadline()).toBeNull();
  });
});

describe("a runner that announces it is leaving", () => {
  it("takes no new work, is sent nothing, and is killed if it has not exited by shutdownTimeout", () => {
    const h = scenario({ max: 2, maxConcurrency: 2, shutdownTimeoutMs: 5_000 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "single_use" }).expectNothing();
    expect(h.snapshot().runners[0]?.state).toBe("draining");
    // r1 has a free slot, but the caller gets a new runner.
    h.checkout("c2").expect(boot("b2"));
    h.checkin("c1").expectNothing();
    h.advanceTo(5_000).expect(kill("r1"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
  });

  it("is a no-op for a runner already asked to leave, or gone", () => {
    const h = scenario({ max: 1 }).start().checkout("c1");
    h.bootSucceeds("b1", "r1").expect(boot("b1"), grant("c1", "r1"));
    h.stop().expect(shutdown("r1", "stop"));
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "stop" }).expectNothing();
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), stopped());
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "late" }).expectNothing();
  });
});

describe("a runner that is down", () => {
  it("fails its checkouts RUNNER_DOWN and is never granted again", () => {
    const h = scenario({ max: 2, maxConcurrency: 2 }).start().checkout("c1");
    h.bootSucceeds("b1", "r1").expect(boot("b1"), grant("c1", "r1"));
    h.runnerDown("r1", "link closed").expect(failCheckout("c1", "RUNNER_DOWN"));
    h.checkout("c2").expect(boot("b2"));
    h.checkin("c1").expectNothing(); // the host's late checkin is a no-op
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
  });
});

describe("starting", () => {
  it("the first caller starts the pool: min boots with its own", () => {
    const h = scenario({ min: 1, max: 2 });
    h.checkout("c1").expect(boot("b1", true));
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.start().expectNothing(); // a repeat
  });
});
