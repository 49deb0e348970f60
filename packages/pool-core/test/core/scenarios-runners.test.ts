/**
 * FLAME's Pool behaviours as scenarios against the pure core (flame_pool.ex in
 * /work/shared/reference): runners that fail to boot, die, idle out or serve once, and callers
 * that go away; plus the places we fix it (#60 min kept, #66 crash-safe checkin).
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  checkIdle,
  failCheckout,
  forget,
  grant,
  kill,
  scenario,
  shutdown,
} from "./harness.js";

describe("boot failures", () => {
  it("retries a failed boot after the debounce while demand is unmet", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.advanceTo(50).bootFails("b1", "quota").expectNothing();
    expect(h.telemetry("growEnd")).toEqual([
      {
        type: "growEnd",
        bootId: "b1",
        count: 0,
        ok: false,
        runnerId: "r1",
        bootMs: 50,
        error: "quota",
      },
    ]);
    expect(h.nextDeadline()).toBe(1_050);
    h.advanceTo(1_049).expectNothing();
    h.advanceTo(1_050).expect(boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
  });

  it("does not retry when nobody waits any more", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.bootFails("b1").callerGone("c1").advanceTo(5_000).expectNothing();
  });

  it("does not retry when demand is gone before the boot fails", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").expect(boot("b1")).callerGone("c1").bootFails("b1");
    expect(h.nextDeadline()).toBeNull();
  });

  it("retries a failed min boot even with no caller", () => {
    const h = scenario({ min: 1, max: 2 }).start().expect(boot("b1", true));
    h.bootFails("b1").expectNothing();
    h.advanceBy(1_000).expect(boot("b2", true));
    h.bootSucceeds("b2", "r2").expectNothing();
    expect(h.snapshot().runners).toMatchObject([{ id: "r2", isMin: true }]);
  });

  it("an unknown boot failure is a no-op", () => {
    scenario().start().bootFails("b9").expectNothing();
  });
});

describe("runner death", () => {
  it("fails every checkout on a dead runner and reports the shrink", () => {
    const h = scenario({ max: 1, maxConcurrency: 2 }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").bootSucceeds("b1", "r1");
    h.expect(grant("c1", "r1"), grant("c2", "r1"));
    h.runnerDown("r1", "oom").expect(
      failCheckout("c1", "RUNNER_DOWN"),
      failCheckout("c2", "RUNNER_DOWN"),
    );
    expect(h.telemetry("shrink")).toEqual([
      { type: "shrink", runnerId: "r1", count: 0, reason: "oom" },
    ]);
    // Late checkins for the failed checkouts are known races (FLAME #66): no-ops.
    h.checkin("c1").callerGone("c2").expectNothing();
    expect(h.snapshot().runners).toEqual([]);
  });

  it("hands waiters to a new runner booted for them", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2").expectNothing();
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
  });

  it("replaces a dead min runner (FLAME #60)", () => {
    const h = scenario({ min: 1, max: 2 }).start().expect(boot("b1", true));
    h.bootSucceeds("b1", "r1").runnerDown("r1").expect(boot("b2", true));
    h.bootSucceeds("b2", "r2");
    expect(h.snapshot().runners).toMatchObject([{ id: "r2", isMin: true, state: "ready" }]);
  });

  it("does not replace a dead non-min runner when nobody waits", () => {
    const h = scenario({ min: 1, max: 2 }).start().expect(boot("b1", true));
    h.bootSucceeds("b1", "r1").checkout("c1").checkout("c2").expect(grant("c1", "r1"), boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.runnerDown("r2").expect(failCheckout("c2", "RUNNER_DOWN"));
  });

  it("an unknown or repeated runnerDown is a no-op", () => {
    const h = scenario({ min: 1 }).start().expect(boot("b1", true));
    h.runnerDown("nope").expectNothing();
    h.bootSucceeds("b1", "r1").runnerDown("r1").expect(boot("b2", true));
    h.runnerDown("r1").expectNothing();
  });

  it("drainRunner: no new work, its call finishes, then it leaves; a min runner is replaced", () => {
    const h = scenario({ min: 1, max: 2, maxConcurrency: 2 }).start().expect(boot("b1", true));
    h.bootSucceeds("b1", "r1").checkout("c1").expect(grant("c1", "r1"));
    h.send({ type: "drainRunner", runnerId: "r1" }).expect(shutdown("r1", "operator"));
    h.checkout("c2").expect(boot("b2"));
    h.checkin("c1").runnerDown("r1", "drained").expect(boot("b3", true));
    h.send({ type: "drainRunner", runnerId: "r1" }).expectNothing();
  });

  it("a runner dying while it drains is not replaced unless min needs it", () => {
    const h = scenario({ max: 2, idleShutdownAfterMs: 1_000 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").advanceBy(1_000).expect(shutdown("r1", "idle"));
    h.runnerDown("r1", "shutdown").expectNothing();
  });
});

describe("callers that go away", () => {
  it("drops a waiter whose caller is gone", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").callerGone("c1").expectNothing();
    h.bootSucceeds("b1", "r1").expect(grant("c2", "r1"));
  });

  it("releases a granted checkout whose caller is gone, like a checkin", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2").expectNothing().callerGone("c1").expect(grant("c2", "r1"));
    expect(h.inflight("r1")).toBe(1);
  });

  it("an unknown caller or checkin is a no-op", () => {
    scenario().start().callerGone("x").checkin("y").convertToChild("z", "p").expectNothing();
  });

  it("a checkout converted to a placed child keeps its slot until its checkin", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 1_000 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.convertToChild("c1", "child-7").checkout("c2").expectNothing();
    expect(h.state.checkouts.get("c1")?.childId).toBe("child-7");
    h.advanceBy(60_000).expectNothing(); // a busy runner never idles out
    expect(h.inflight("r1")).toBe(1);
    h.checkin("c1").expect(grant("c2", "r1"));
  });
});

describe("idle shutdown", () => {
  it("a runner promoted to min while its idle check runs stays, whatever the check answers (sim seed 12190)", () => {
    const h = scenario({ min: 1, max: 2, idleShutdownAfterMs: 1_000, hasIdleCheck: true });
    h.start().expect(boot("b1", true)).bootSucceeds("b1", "r1");
    h.checkout("c1").checkout("c2").expect(grant("c1", "r1"), boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.checkin("c2").advanceTo(1_000).expect(checkIdle("r2"));
    // The min runner dies: the idle one is promoted to min instead of a boot.
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"));
    // Min runners never idle out here, and one that left for idle would not be replaced.
    h.idleChecked("r2", true).expectNothing();
    expect(h.snapshot().runners).toMatchObject([{ id: "r2", isMin: true, state: "ready" }]);
  });

  it("shuts down an idle non-min runner after idleShutdownAfterMs", () => {
    const h = scenario({ min: 1, max: 2, idleShutdownAfterMs: 10_000 }).start();
    h.expect(boot("b1", true)).bootSucceeds("b1", "r1");
    h.checkout("c1").checkout("c2").expect(grant("c1", "r1"), boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.advanceTo(100).checkin("c1").checkin("c2");
    h.advanceTo(10_099).expectNothing();
    h.advanceTo(10_100).expect(shutdown("r2", "idle"));
    // r2 does not leave within shutdownTimeout: the backend is told to kill it.
    h.advanceTo(40_100).expect(kill("r2"));
    // A draining runner takes no new checkouts.
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkout("c4").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
    // r2 still counts toward max until it is down; then the waiter gets a new runner.
    h.runnerDown("r2", "shutdown").expect(boot("b3"));
    // The min runner stays: minIdleShutdownAfterMs is null.
    h.bootSucceeds("b3", "r3").expect(grant("c4", "r3")).checkin("c3").checkin("c4");
    h.advanceTo(1_000_000).expect(shutdown("r3", "idle"), kill("r3"), forget("r3"));
    expect(h.snapshot().runners.map((r) => r.id)).toEqual(["r1"]);
  });

  it("a grant clears the idle timer and a checkin re-arms it", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 1_000 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").advanceTo(900).checkout("c2").expect(grant("c2", "r1"));
    h.advanceTo(5_000).checkin("c2").expectNothing();
    h.advanceTo(5_999).expectNothing().advanceTo(6_000).expect(shutdown("r1", "idle"));
  });

  it("idles out a fresh runner nobody used", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 500 }).start();
    h.checkout("c1").expect(boot("b1")).callerGone("c1").bootSucceeds("b1", "r1").expectNothing();
    h.advanceBy(500).expect(shutdown("r1", "idle"));
  });

  it("shuts down min runners after minIdleShutdownAfterMs and does not replace them", () => {
    const h = scenario({ min: 1, max: 1, minIdleShutdownAfterMs: 2_000 }).start();
    h.expect(boot("b1", true)).bootSucceeds("b1", "r1");
    h.advanceBy(2_000).expect(shutdown("r1", "idle"));
    h.runnerDown("r1", "idle").expectNothing();
    // Demand brings one back.
    h.checkout("c1").expect(boot("b2"));
  });

  it("with an idle check: asks, re-arms on no, drains on yes", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 1_000, hasIdleCheck: true }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").advanceTo(1_000).expect(checkIdle("r1"));
    h.idleChecked("r1", false).expectNothing();
    expect(h.nextDeadline()).toBe(2_000);
    h.advanceTo(2_000).expect(checkIdle("r1"));
    h.idleChecked("r1", true).expect(shutdown("r1", "idle"));
  });

  it("with an idle check: a runner that got busy meanwhile is kept", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 1_000, hasIdleCheck: true }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").advanceTo(1_000).expect(checkIdle("r1"));
    h.checkout("c2").expect(grant("c2", "r1"));
    h.idleChecked("r1", true).expectNothing();
    expect(h.snapshot().runners).toMatchObject([{ id: "r1", state: "ready", inflight: 1 }]);
    h.idleChecked("ghost", true).expectNothing();
  });
});

describe("single use", () => {
  it("a runner takes exactly one checkout, then drains", () => {
    const h = scenario({ max: 2, maxConcurrency: 4, singleUse: true }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").expect(boot("b2"));
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c3").expectNothing();
    h.checkin("c1").expect(shutdown("r1", "single_use"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.runnerDown("r1", "single_use").expect(boot("b3"));
    h.bootSucceeds("b3", "r3").expect(grant("c3", "r3"));
  });

  it("keeps min: a used min runner is replaced", () => {
    const h = scenario({ min: 1, max: 2, singleUse: true }).start().expect(boot("b1", true));
    h.bootSucceeds("b1", "r1").checkout("c1").expect(grant("c1", "r1"));
    h.callerGone("c1").expect(shutdown("r1", "single_use"));
    h.runnerDown("r1", "single_use").expect(boot("b2", true));
  });
});
