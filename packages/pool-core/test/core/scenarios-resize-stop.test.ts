/**
 * FLAME's Pool behaviours as scenarios against the pure core (flame_pool.ex in
 * /work/shared/reference): resizing a running pool, and stopping it.
 */
import { describe, expect, it } from "vitest";
import { abortBoot, boot, grant, reject, scenario, shutdown, stopped } from "./harness.js";

describe("resize", () => {
  it("resize up promotes existing runners to min first, then boots the rest", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.resize(3, 4).expect(boot("b2", true), boot("b3", true));
    expect(h.telemetry("resize")).toEqual([{ type: "resize", min: 3, max: 4, buffer: 0 }]);
    expect(h.snapshot()).toMatchObject({ min: 3, max: 4, runners: [{ id: "r1", isMin: true }] });
  });

  it("resize up lets queued callers grow the pool", () => {
    const h = scenario({ max: 1 }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").expectNothing();
    h.resize(0, 2).expect(boot("b2"));
  });

  it("resize down drains idle non-min runners at once and busy ones when they finish", () => {
    const h = scenario({ max: 3 }).start();
    h.checkout("c1").checkout("c2").checkout("c3").expect(boot("b1"), boot("b2"), boot("b3"));
    h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2").bootSucceeds("b3", "r3");
    h.expect(grant("c1", "r1"), grant("c2", "r2"), grant("c3", "r3"));
    h.checkin("c1").expectNothing();
    h.resize(0, 1).expect(shutdown("r1", "resize"));
    expect(h.snapshot().runners.map((r) => r.state)).toEqual(["draining", "draining", "ready"]);
    // The busy surplus runner r2 is never shut down while busy and takes no new work.
    h.checkout("c4").expectNothing();
    h.checkin("c2").expect(shutdown("r2", "resize"));
    h.checkin("c3").expect(grant("c4", "r3"));
    // Leaving on purpose: not replaced.
    h.runnerDown("r1", "resize").runnerDown("r2", "resize").expectNothing();
  });

  it("resize down keeps min runners and drops extra min designations", () => {
    const h = scenario({ min: 2, max: 2 }).start().expect(boot("b1", true), boot("b2", true));
    h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2");
    h.resize(1, 1).expect(shutdown("r1", "resize"));
    expect(h.snapshot().runners).toMatchObject([
      { id: "r1", state: "draining", isMin: false },
      { id: "r2", state: "ready", isMin: true },
    ]);
  });

  it("resize up while max is full boots the rest of min as draining runners leave", () => {
    const h = scenario({ max: 2, idleShutdownAfterMs: 100 }).start();
    h.checkout("c1").checkout("c2").expect(boot("b1"), boot("b2"));
    h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2").checkin("c1").checkin("c2");
    h.advanceBy(100).expect(
      grant("c1", "r1"),
      grant("c2", "r2"),
      shutdown("r1", "idle"),
      shutdown("r2", "idle"),
    );
    h.resize(2, 2).expectNothing(); // r1 and r2 still hold the two places
    h.runnerDown("r2", "idle").expect(boot("b3", true));
    h.runnerDown("r1", "idle").expect(boot("b4", true));
  });

  it("a boot in flight past the new max is shut down when it comes up", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c1").checkout("c2").expect(boot("b1"), boot("b2"));
    h.resize(0, 1).expectNothing();
    h.bootSucceeds("b1", "r1").expect(shutdown("r1", "resize"));
    h.bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
    h.runnerDown("r1", "resize").expectNothing();
  });
});

describe("stop", () => {
  it("rejects waiters, shuts down every runner, and refuses later work", () => {
    const h = scenario({ min: 1, max: 2, idleShutdownAfterMs: 1_000 }).start();
    h.expect(boot("b1", true)).bootSucceeds("b1", "r1");
    h.checkout("c1").expect(grant("c1", "r1")).checkout("c2", 5_000).expect(boot("b2"));
    h.stop().expect(reject("c2", "POOL_STOPPED"), abortBoot("b2"), shutdown("r1", "stop"));
    expect(h.nextDeadline()).toBe(30_000); // r1's kill deadline
    expect(h.snapshot().stopped).toBe(true);
    h.checkout("c3").expect(reject("c3", "POOL_STOPPED"));
    // The aborted boot is the host's to clean up; a late report of it is ignored.
    h.bootSucceeds("b2", "r2").bootSucceeds("b9", "r9").expectNothing();
    // In-flight work still checks in; dead runners are not replaced.
    h.checkin("c1").runnerDown("r1", "stop").expect(stopped());
    h.runnerDown("r2", "stop").expectNothing();
    h.resize(3, 3).start().stop().advanceBy(60_000).expectNothing();
    expect(h.nextDeadline()).toBeNull();
  });
});
