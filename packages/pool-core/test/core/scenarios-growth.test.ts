/**
 * FLAME's Pool behaviours as scenarios against the pure core (flame_pool.ex in
 * /work/shared/reference): how the pool grows, which runner a caller gets, and deadlines.
 */
import { describe, expect, it } from "vitest";
import { abortBoot, boot, grant, reject, runningOnR1, scenario, shutdown } from "./harness.js";

describe("start and growth", () => {
  it("boots min runners on start, marked as min", () => {
    scenario({ min: 2, max: 3 })
      .start()
      .expect(boot("b1", true), boot("b2", true))
      .bootSucceeds("b1", "r1")
      .bootSucceeds("b2", "r2")
      .expectNothing()
      .checkout("c1")
      .checkout("c2")
      .expect(grant("c1", "r2"), grant("c2", "r1"));
  });

  it("a second start boots nothing more", () => {
    scenario({ min: 1 }).start().expect(boot("b1", true)).start().expectNothing();
  });

  it("grows on demand up to max, then queues", () => {
    const h = scenario({ max: 2 })
      .start()
      .expectNothing()
      .checkout("c1")
      .expect(boot("b1"))
      .checkout("c2")
      .expect(boot("b2"))
      .checkout("c3")
      .expectNothing();
    expect(h.snapshot()).toMatchObject({ waiting: 3, pendingBoots: 2 });
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.checkin("c1").expect(grant("c3", "r1"));
    expect(h.telemetry("growStart").map((e) => e.bootId)).toEqual(["b1", "b2"]);
  });

  it("does not boot while pending boots can absorb the queue", () => {
    const h = scenario({ max: 5, maxConcurrency: 3 });
    h.start().checkout("c1").expect(boot("b1"));
    h.checkout("c2").checkout("c3").expectNothing();
    h.checkout("c4").expect(boot("b2"));
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"), grant("c2", "r1"), grant("c3", "r1"));
    h.bootSucceeds("b2", "r2").expect(grant("c4", "r2"));
  });

  it("a runner that comes up takes up to maxConcurrency waiters, the rest keep waiting", () => {
    const h = scenario({ max: 1, maxConcurrency: 2 }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").checkout("c3").expectNothing();
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"), grant("c2", "r1"));
    expect(h.snapshot().waiting).toBe(1);
    expect(h.telemetry("growEnd")).toEqual([
      { type: "growEnd", bootId: "b1", count: 1, ok: true, runnerId: "r1", bootMs: 0 },
    ]);
  });

  it("boots again when a runner comes up and demand is still unmet", () => {
    const h = scenario({ max: 3 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.bootFails("b1").expectNothing();
    h.checkout("c2").checkout("c3").expectNothing(); // retry is debouncing
    h.advanceBy(1_000).expect(boot("b2"), boot("b3"), boot("b4"));
    h.bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
  });
});

describe("choosing a runner", () => {
  it("grants the least-loaded ready runner", () => {
    const h = scenario({ min: 3, max: 3, maxConcurrency: 4 }).start();
    h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2").bootSucceeds("b3", "r3");
    const ids = ["r1", "r2", "r3"];
    // A mixed sequence of checkouts and checkins; every grant must go to a minimum-load runner.
    const held: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      if (i % 3 === 2 && held.length > 0) {
        h.checkin(held.splice(i % held.length, 1)[0] as string);
        continue;
      }
      const loads = ids.map((id) => h.inflight(id) ?? 0);
      const lowest = Math.min(...loads);
      if (lowest >= 4) break;
      h.checkout(`c${i}`);
      const granted = h.log.at(-2);
      if (granted?.type !== "grant") throw new Error(`c${i} was not granted`);
      expect(loads[ids.indexOf(granted.runnerId)]).toBe(lowest);
      held.push(`c${i}`);
    }
    expect(h.snapshot().waiting).toBe(0);
  });

  it("among equally loaded runners, reuses the one freed last so a spike's surplus idles out", () => {
    const h = scenario({ max: 3, idleShutdownAfterMs: 10_000 }).start();
    h.checkout("c1").checkout("c2").checkout("c3").expect(boot("b1"), boot("b2"), boot("b3"));
    h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2").bootSucceeds("b3", "r3");
    h.expect(grant("c1", "r1"), grant("c2", "r2"), grant("c3", "r3"));
    h.checkin("c1").checkin("c3").checkin("c2");
    // The spike is over: one caller at a time keeps landing on r2, the last one freed, and
    // the other two idle out.
    for (let i = 0; i < 10; i += 1) h.advanceBy(2_000).checkout(`s${i}`).checkin(`s${i}`);
    const grants = h.telemetry("checkout").filter((e) => e.checkoutId.startsWith("s"));
    expect(new Set(grants.map((e) => e.runnerId))).toEqual(new Set(["r2"]));
    h.expect(
      grant("s0", "r2"),
      grant("s1", "r2"),
      grant("s2", "r2"),
      grant("s3", "r2"),
      shutdown("r1", "idle"),
      shutdown("r3", "idle"),
      ...["s4", "s5", "s6", "s7", "s8", "s9"].map((id) => grant(id, "r2")),
    );
  });

  it("serves waiters first in, first out", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.checkout("c2").checkout("c3").checkout("c4").expectNothing();
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkin("c1").expect(grant("c2", "r1"));
    h.checkin("c2").expect(grant("c3", "r1"));
    h.checkin("c3").expect(grant("c4", "r1"));
    expect(h.telemetry("checkout").map((e) => e.checkoutId)).toEqual(["c1", "c2", "c3", "c4"]);
  });

  it("reports how long a caller waited", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1"));
    h.advanceTo(250).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    expect(h.telemetry("checkout")).toEqual([
      { type: "checkout", checkoutId: "c1", runnerId: "r1", waitedMs: 250 },
    ]);
    expect(h.telemetry("waiting")).toEqual([{ type: "waiting", checkoutId: "c1", waiting: 1 }]);
  });
});

/** One ready runner holding c0 (maxConcurrency 1, max 1): later callers queue warm. */
/** One ready runner holding c0 (maxConcurrency 1, max 1): later callers queue warm. */
const busyPool = () => runningOnR1({ max: 1 }, "c0");

describe("deadlines", () => {
  it("rejects a warm waiter with TIMEOUT at its deadline, not before", () => {
    const h = busyPool();
    h.checkout("c1", 5_000).expectNothing();
    expect(h.nextDeadline()).toBe(5_000);
    h.advanceTo(4_999).expectNothing();
    h.advanceTo(5_000).expect(reject("c1", "TIMEOUT"));
    expect(h.telemetry("timeout")).toEqual([
      { type: "timeout", checkoutId: "c1", waitedMs: 5_000 },
    ]);
    expect(h.errorOf("c1")?.message).toMatch(/no runner slot freed up .* Raise `timeout`/);
    expect(h.nextDeadline()).toBeNull();
    h.checkin("c0").expectNothing();
    expect(h.inflight("r1")).toBe(0);
  });

  it("a warm caller's grant carries its original deadline (timeout spans queue + run)", () => {
    const h = busyPool();
    h.advanceTo(100).checkout("c1", 5_000).advanceTo(1_000).checkin("c0").expect(grant("c1", "r1"));
    expect(h.runDeadline("c1")).toBe(5_100);
  });

  it("a caller granted at once runs until now + timeout; no timeout means no deadline", () => {
    const h = scenario({ min: 1, max: 1, maxConcurrency: 2 }).start();
    h.expect(boot("b1", true)).bootSucceeds("b1", "r1");
    h.advanceTo(10).checkout("c1", 500).checkout("c2").expect(grant("c1", "r1"), grant("c2", "r1"));
    expect(h.runDeadline("c1")).toBe(510);
    expect(h.runDeadline("c2")).toBeNull();
  });

  it("cold: a caller queued while a runner boots waits up to max(timeout, bootTimeout) and then gets a full timeout", () => {
    const h = scenario({ max: 1, bootTimeoutMs: 30_000 }).start();
    h.checkout("c1", 5_000).expect(boot("b1"));
    expect(h.nextDeadline()).toBe(30_000); // max(timeout 5 s, bootTimeout 30 s)
    h.advanceTo(12_000).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    expect(h.runDeadline("c1")).toBe(17_000);
  });

  it("cold: at max(timeout, bootTimeout) the waiter gets TIMEOUT naming the boot, not the limits", () => {
    const h = scenario({ max: 1, bootTimeoutMs: 30_000 }).start();
    h.checkout("c1", 60_000).expect(boot("b1"));
    h.advanceTo(100).bootFails("b1", "docker: no such image flame:missing").expectNothing();
    // The retry boots again after the debounce; that one hangs until the caller gives up.
    h.advanceTo(1_100).expect(boot("b2"));
    h.advanceTo(31_100).expect(abortBoot("b2"));
    h.advanceTo(32_100).expect(boot("b3"));
    h.advanceTo(60_000).expect(reject("c1", "TIMEOUT"));
    expect(h.errorOf("c1")?.message).toMatch(/the last boot failed: .*bootTimeout/);
    expect(h.errorOf("c1")?.message).not.toMatch(/raise `timeout`/);
  });

  it("expires waiters on any event, even without a tick", () => {
    const h = busyPool();
    h.checkout("c1", 100);
    h.nowMs = 150;
    h.checkin("c0").expect(reject("c1", "TIMEOUT"));
    expect(h.inflight("r1")).toBe(0);
  });

  it("skips an expired waiter and hands the slot to the next live one", () => {
    const h = busyPool();
    h.checkout("c2", 1_000).checkout("c3", 10_000).expectNothing();
    h.advanceTo(2_000).expect(reject("c2", "TIMEOUT"));
    h.checkin("c0").expect(grant("c3", "r1"));
    // What is left is c3's backstop: its deadline plus the grace.
    expect(h.nextDeadline()).toBe(11_000);
  });

  it("a checkin or cancel after the timeout is a no-op", () => {
    const h = busyPool();
    h.checkout("c1", 100).advanceTo(100).expect(reject("c1", "TIMEOUT"));
    h.checkin("c1").callerGone("c1").expectNothing();
  });

  it("rejects a checkout whose timeout is already spent", () => {
    scenario({ max: 1 }).start().advanceTo(10).checkout("c1", 0).expect(reject("c1", "TIMEOUT"));
  });

  it("nextDeadline reports the earliest live deadline", () => {
    const h = busyPool();
    h.checkout("c1", 300).checkout("c2", 100).checkout("c3", 200);
    expect(h.nextDeadline()).toBe(100);
    h.callerGone("c2");
    expect(h.nextDeadline()).toBe(200);
    h.advanceTo(200).expect(reject("c3", "TIMEOUT"));
    expect(h.nextDeadline()).toBe(300);
  });

  it("extra and early ticks change nothing", () => {
    const h = scenario({ max: 1, idleShutdownAfterMs: 1_000 }).start();
    h.checkout("c1", 5_000).expect(boot("b1"));
    h.tick().tick().advanceTo(10).tick().expectNothing();
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.tick().tick().expectNothing();
    expect(h.inflight("r1")).toBe(1);
  });
});

describe("long runs", () => {
  it("the deadline heap stays bounded when many waiters give up (stale entries compacted)", () => {
    const h = scenario({ min: 1, max: 1 }).start().bootSucceeds("b1", "r1");
    h.checkout("hold").checkout("first", 1_000_000).expect(boot("b1", true), grant("hold", "r1"));
    // The waiter at the front keeps the earliest deadline alive at the top of the heap, so
    // the entries of callers behind it who give up cannot be popped lazily.
    for (let i = 0; i < 5_000; i += 1) {
      h.nowMs += 1;
      h.checkout(`c${i}`, 2_000_000).callerGone(`c${i}`);
    }
    expect(h.state.waiterDeadlines.size).toBeLessThan(100);
    expect(h.nextDeadline()).toBe(1_000_000);
    h.checkin("hold").expect(grant("first", "r1"));
    expect(h.nextDeadline()).toBe(1_001_000); // first's backstop: deadline plus grace
  });
});
