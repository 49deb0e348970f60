/**
 * The rules issue 14 moved into (or added to) the core: boot and kill deadlines, runner ids,
 * permanent boot failures, maxWaiting, buffer, budget, drain, and the enforced runner
 * lifecycle. Every scenario runs on virtual time with the invariants checked after each step.
 */
import { describe, expect, it } from "vitest";
import { CoreTransitionError, RUNNER_TRANSITIONS } from "../../src/core/index.js";
import { moveRunner } from "../../src/core/state.js";
import {
  abortBoot,
  boot,
  forget,
  grant,
  kill,
  reject,
  scenario,
  shutdown,
  stopped,
} from "./harness.js";

describe("runner ids and boot deadlines", () => {
  it("the core mints runner ids from its prefix and puts them in the boot effect", () => {
    const h = scenario({ runnerIdPrefix: "pool-abc-", max: 2 }).start();
    h.checkout("c1").checkout("c2");
    const boots = h.log.filter((e) => e.type === "boot");
    expect(boots.map((e) => (e.type === "boot" ? e.runnerId : ""))).toEqual([
      "pool-abc-1",
      "pool-abc-2",
    ]);
  });

  it("a boot that does not come up by bootTimeout is aborted, reported and retried", () => {
    const h = scenario({ max: 1, bootTimeoutMs: 5_000 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.advanceTo(4_999).expectNothing();
    h.advanceTo(5_000).expect(abortBoot("b1"));
    expect(h.telemetry("growEnd")).toMatchObject([
      { bootId: "b1", ok: false, bootMs: 5_000, error: expect.stringMatching(/bootTimeout/) },
    ]);
    h.advanceTo(6_000).expect(boot("b2"));
    // A late hello for the aborted boot is ignored: the host stops that runner itself.
    h.bootSucceeds("b1", "r1").expectNothing();
    h.bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
  });
});

describe("stop is bounded", () => {
  it("a runner that ignores its shutdown is killed after shutdownTimeout, then forgotten after killGrace", () => {
    const h = scenario({ min: 1, max: 1, shutdownTimeoutMs: 1_000, killGraceMs: 500 }).start();
    h.expect(boot("b1", true)).bootSucceeds("b1", "r1").checkout("c1").expect(grant("c1", "r1"));
    h.stop().expect(shutdown("r1", "stop"));
    h.advanceTo(999).expectNothing();
    h.advanceTo(1_000).expect(kill("r1"));
    // The backend never reports the exit (a hung daemon): the core gives up and reports stopped.
    h.advanceTo(1_500).expect(
      forget("r1"),
      { type: "failCheckout", checkoutId: "c1", code: "RUNNER_DOWN" },
      stopped(),
    );
    expect(h.telemetry("runnerKilled").map((e) => e.abandoned)).toEqual([false, true]);
    expect(h.nextDeadline()).toBeNull();
    // A late exit report is a no-op.
    h.runnerDown("r1", "exited").expectNothing();
  });

  it("a runner that exits in time is not killed; stopped comes once nothing is left", () => {
    const h = scenario({ min: 2, max: 2 })
      .start()
      .bootSucceeds("b1", "r1")
      .bootSucceeds("b2", "r2");
    h.expect(boot("b1", true), boot("b2", true));
    h.stop().expect(shutdown("r1", "stop"), shutdown("r2", "stop"));
    h.runnerDown("r1", "exited").expectNothing();
    h.runnerDown("r2", "exited").expect(stopped());
    h.advanceBy(100_000).expectNothing();
  });

  it("stop with nothing running reports stopped at once", () => {
    scenario().start().stop().expect(stopped());
  });
});

describe("boot failures surfaced", () => {
  it("a permanent failure fails the callers waiting on that boot at once, with the backend's message", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1", 60_000).checkout("c2").expect(boot("b1"), boot("b2"));
    h.bootFails("b1", "entry not found: /app/missing.js", true).expectNothing();
    h.bootFails("b2", "entry not found: /app/missing.js", true);
    h.expect(reject("c1", "BOOT_FAILED"), reject("c2", "BOOT_FAILED"));
    expect(h.errorOf("c1")).toEqual({
      code: "BOOT_FAILED",
      message: "entry not found: /app/missing.js",
      permanent: true,
    });
    // No retry: nothing is scheduled.
    expect(h.nextDeadline()).toBeNull();
    h.advanceBy(10_000).expectNothing();
  });

  it("after a permanent failure, new demand tries a boot again", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").expect(boot("b1")).bootFails("b1", "bad config", true);
    h.expect(reject("c1", "BOOT_FAILED"));
    h.checkout("c2").expect(boot("b2")).bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
  });

  it("a permanent failure leaves warm waiters queued behind busy runners", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c0").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c0", "r1"));
    h.checkout("c1").expect(boot("b2")); // cold: b2 boots for it
    h.bootFails("b2", "image missing", true).expect(reject("c1", "BOOT_FAILED"));
    h.resize(0, 1).checkout("c2").expectNothing(); // at max behind r1: warm
    h.checkin("c0").expect(grant("c2", "r1"));
  });

  it("a later successful boot lifts the block: min is filled again (sim seed 10737)", () => {
    const h = scenario({ min: 3, max: 5 }).start();
    h.expect(boot("b1", true), boot("b2", true), boot("b3", true));
    h.bootFails("b1", "bad config", true).expectNothing();
    expect(h.state.retryAtMs).toBeNull(); // no retry
    h.bootSucceeds("b3", "r3").expect(boot("b4", true));
  });

  it("a transient failure retries after the debounce", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).bootFails("b1", "429 rate limited", false).expectNothing();
    h.advanceBy(1_000).expect(boot("b2"));
  });
});

describe("maxWaiting", () => {
  it("one caller past maxWaiting fails OVERLOADED at once; waiting never exceeds it", () => {
    const h = scenario({ max: 1, maxWaiting: 2 }).start();
    h.checkout("c1").checkout("c2").expect(boot("b1"));
    h.checkout("c3").expect(reject("c3", "OVERLOADED"));
    expect(h.telemetry("overloaded")).toEqual([{ type: "overloaded", waiting: 2, maxWaiting: 2 }]);
    expect(h.errorOf("c3")?.message).toMatch(/maxWaiting 2/);
    expect(h.snapshot()).toMatchObject({ waiting: 2, maxWaiting: 2 });
    // A caller that finds a free slot is never refused, however long the queue was.
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c4").expectNothing();
    expect(h.snapshot().waiting).toBe(2);
  });
});

describe("buffer", () => {
  it("keeps buffer idle runners ready beyond demand, within max", () => {
    const h = scenario({ max: 3, buffer: 1, idleShutdownAfterMs: 1_000 }).start();
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expectNothing();
    // The buffer runner is idle past idleShutdownAfter: it stays.
    h.advanceBy(5_000).expectNothing();
    // A caller takes it: another boots to keep one spare.
    h.checkout("c1").expect(grant("c1", "r1"), boot("b2")).bootSucceeds("b2", "r2");
    h.checkout("c2").expect(grant("c2", "r2"), boot("b3")).bootSucceeds("b3", "r3");
    // At max: no more boots for the buffer.
    h.checkout("c3").expect(grant("c3", "r3")).expectNothing();
    expect(h.snapshot().pendingBoots).toBe(0);
  });

  it("runners beyond the buffer idle out; when buffer drops they idle out too", () => {
    const h = scenario({ max: 3, buffer: 2, idleShutdownAfterMs: 1_000 }).start();
    h.expect(boot("b1"), boot("b2")).bootSucceeds("b1", "r1").bootSucceeds("b2", "r2");
    h.checkout("c1").expect(grant("c1", "r2"), boot("b3")).bootSucceeds("b3", "r3");
    h.checkin("c1"); // three idle runners, buffer 2: one idles out
    h.advanceBy(1_000).expect(shutdown("r1", "idle"));
    h.runnerDown("r1", "idle").expectNothing();
    expect(h.snapshot().runners.map((r) => r.id)).toEqual(["r2", "r3"]);
    // Equal idle deadlines fire in the order they were armed: r3 was kept for the buffer first
    // (it had been idle longer than r2, which served c1), so it is re-armed and leaves first.
    h.resize(0, 3, 0).advanceBy(1_000).expect(shutdown("r3", "idle"), shutdown("r2", "idle"));
  });
});

describe("budget", () => {
  const budget = { runnerMs: 10_000, windowMs: 60_000 };

  it("when the budget is spent no boot starts, and a caller nobody can take fails BUDGET_EXHAUSTED", () => {
    const h = scenario({ max: 2, budget, idleShutdownAfterMs: 1_000 }).start();
    h.checkout("c1").expect(boot("b1")).advanceTo(1_000).bootSucceeds("b1", "r1");
    h.expect(grant("c1", "r1"));
    h.advanceTo(9_000).checkin("c1").advanceTo(10_000).expect(shutdown("r1", "idle"));
    h.runnerDown("r1", "idle");
    expect(h.snapshot().budget).toEqual({ ...budget, spentMs: 10_000 });
    h.checkout("c2").expect(reject("c2", "BUDGET_EXHAUSTED"));
    expect(h.telemetry("budgetBlocked")).toEqual([
      { type: "budgetBlocked", spentMs: 10_000, budgetMs: 10_000 },
    ]);
    // The window rolls: the spent time falls out of it and boots are allowed again.
    h.advanceTo(61_000).checkout("c3").expect(boot("b2"));
  });

  it("a caller a running runner can take still waits for it when the budget blocks a boot", () => {
    const h = scenario({ max: 2, budget }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.advanceTo(10_000).checkout("c2").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
    h.checkin("c1").expect(grant("c2", "r1"));
  });

  it("counts boot time of failed boots too", () => {
    const h = scenario({ max: 1, budget: { runnerMs: 1_000, windowMs: 60_000 } }).start();
    h.checkout("c1").expect(boot("b1")).advanceTo(1_000).bootFails("b1", "flaky");
    h.advanceTo(2_000).expect(reject("c1", "BUDGET_EXHAUSTED"));
  });
});

describe("drain", () => {
  it("refuses new callers, finishes queued and running ones, then stops", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2").drain(10_000).expectNothing();
    expect(h.snapshot().draining).toBe(true);
    h.checkout("c3").expect(reject("c3", "POOL_STOPPED"));
    expect(h.errorOf("c3")?.message).toMatch(/draining/);
    h.checkin("c1").expect(grant("c2", "r1"));
    h.checkin("c2").expect(shutdown("r1", "stop"));
    h.runnerDown("r1", "stop").expect(stopped());
  });

  it("at the drain timeout, what is left is stopped", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2")
      .drain(5_000)
      .advanceTo(5_000)
      .expect(reject("c2", "POOL_STOPPED"), shutdown("r1", "stop"));
  });

  it("queued callers may still need a boot while draining; min is not replaced", () => {
    const h = scenario({ min: 1, max: 2 })
      .start()
      .expect(boot("b1", true))
      .bootSucceeds("b1", "r1");
    h.checkout("c1").checkout("c2").expect(grant("c1", "r1"), boot("b2"));
    h.drain(null)
      .runnerDown("r1", "crashed")
      .expect({ type: "failCheckout", checkoutId: "c1", code: "RUNNER_DOWN" });
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.checkin("c2").expect(shutdown("r2", "stop"));
  });
});

describe("runner lifecycle table", () => {
  it("is enforced: an illegal transition throws a CoreTransitionError", () => {
    const h = scenario({ min: 1, max: 1 }).start().bootSucceeds("b1", "r1");
    const runner = h.state.runners.get("r1");
    if (runner === undefined) throw new Error("r1 missing");
    expect(() =>
      moveRunner(h.state, runner, { phase: "killed", reason: "stop", abandonAtMs: 1 }),
    ).toThrow(CoreTransitionError);
    expect(RUNNER_TRANSITIONS.killed).toEqual(["gone"]);
  });

  it("an idle check answered after a grant is stale and ignored", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 100, hasIdleCheck: true }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").advanceBy(100).expect({ type: "checkIdle", runnerId: "r1" });
    h.checkout("c2").expect(grant("c2", "r1"));
    h.idleChecked("r1", true).expectNothing();
    expect(h.snapshot().runners).toMatchObject([{ id: "r1", phase: "ready", inflight: 1 }]);
  });
});
