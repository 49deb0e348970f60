/**
 * Prefetch (issue 23, core/prefetch.ts): when every runner is busy and the pool cannot grow, a
 * call waits queued on a runner (one per thread of the runner) instead of in the pool, and is
 * taken back when a slot frees on another runner first. FLAME's least-loaded rule stays true.
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  failCheckout,
  grant,
  reject,
  retryCheckout,
  type Scenario,
  scenario,
  shutdown,
  unqueue,
} from "./harness.js";

/** Two ready runners (max 2) of one slot each, with c1 on r1 and c2 on r2. */
function twoBusyRunners(config: Parameters<typeof scenario>[0] = {}): Scenario {
  const h = scenario({ min: 2, max: 2, maxConcurrency: 1, prefetch: true, ...config }).start();
  h.expect(boot("b1", true), boot("b2", true));
  h.bootSucceeds("b1", "r1").bootSucceeds("b2", "r2").expectNothing();
  h.checkout("c1").checkout("c2").expect(grant("c1", "r2"), grant("c2", "r1"));
  return h;
}

describe("prefetch: a call waits queued on a busy runner", () => {
  it("at max, each busy runner holds one call queued; the next waits in the pool", () => {
    const h = twoBusyRunners();
    h.checkout("c3").checkout("c4").expect(grant("c3", "r1"), grant("c4", "r2"));
    h.checkout("c5").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
    // Running and queued apart: inflight never exceeds maxConcurrency.
    expect(h.snapshot().runners.map((r) => [r.id, r.inflight, r.queued])).toEqual([
      ["r1", 1, 1],
      ["r2", 1, 1],
    ]);
  });

  it("when the runner's call ends, its queued call has started: the oldest waiter is queued next", () => {
    const h = twoBusyRunners();
    h.checkout("c3").checkout("c4").checkout("c5").expect(grant("c3", "r1"), grant("c4", "r2"));
    // c2 ends on r1: r1 starts c3 itself; c5 goes queued behind it, with no round trip.
    h.checkin("c2").expect(grant("c5", "r1"));
    expect(h.inflight("r1")).toBe(1);
  });

  it("is off by default in these scenarios and then callers wait in the pool", () => {
    const h = twoBusyRunners({ prefetch: false });
    h.checkout("c3").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
  });

  it("never while the pool can still grow: the caller waits for a boot", () => {
    const h = scenario({ max: 2, maxConcurrency: 1, prefetch: true }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2").expect(boot("b2"));
    // At max now, but a boot is in flight: c3 waits for it rather than queue on r1.
    h.checkout("c3").expectNothing();
    // r2 takes c2; then, at max with no boot left, c3 may queue (on r2: ties go to the newest).
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"), grant("c3", "r2"));
  });

  it("never for casts or placed children, and one at the head keeps later calls in the pool", () => {
    const h = twoBusyRunners();
    h.send({ type: "checkout", checkoutId: "cast", timeoutMs: null, unboundedRun: true });
    h.checkout("c3").expectNothing();
    // A free slot takes the cast first; then c3 may queue.
    h.checkin("c2").expect(grant("cast", "r1"), grant("c3", "r1"));
  });

  it("never for single-use runners", () => {
    const h = scenario({ max: 1, singleUse: true, prefetch: true }).start();
    h.checkout("c1").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.checkout("c2").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
  });

  it("respects maxWaiting: 0 (a caller that would wait fails OVERLOADED)", () => {
    const h = twoBusyRunners({ maxWaiting: 0 });
    h.checkout("c3").expect(reject("c3", "OVERLOADED"));
  });
});

describe("prefetch: one queued call per thread", () => {
  it("a runner of 2 threads holds 2 calls queued, started oldest first as its slots free", () => {
    const h = scenario({ min: 1, max: 1, maxConcurrency: 2, prefetch: true }).start();
    h.expect(boot("b1", true));
    h.send({ type: "bootSucceeded", bootId: "b1", threads: 2 });
    h.checkout("c1").checkout("c2").expect(grant("c1", "r1"), grant("c2", "r1"));
    h.checkout("c3").checkout("c4").expect(grant("c3", "r1"), grant("c4", "r1"));
    h.checkout("c5").expectNothing();
    expect(h.snapshot().runners[0]).toMatchObject({ inflight: 2, queued: 2 });
    // c1 ends: r1 starts c3 (the oldest queued); c5 is queued in its place.
    h.checkin("c1").expect(grant("c5", "r1"));
    expect(h.snapshot().runners[0]).toMatchObject({ inflight: 2, queued: 2 });
  });

  it("never more queued than maxConcurrency, whatever the threads", () => {
    const h = scenario({ min: 1, max: 1, maxConcurrency: 1, prefetch: true }).start();
    h.expect(boot("b1", true));
    h.send({ type: "bootSucceeded", bootId: "b1", threads: 4 });
    h.checkout("c1").checkout("c2").checkout("c3").expect(grant("c1", "r1"), grant("c2", "r1"));
    expect(h.snapshot()).toMatchObject({ waiting: 1, runners: [{ inflight: 1, queued: 1 }] });
  });

  it("the newest queued call is the one asked back", () => {
    const h = scenario({ min: 2, max: 2, maxConcurrency: 2, prefetch: true }).start();
    h.expect(boot("b1", true), boot("b2", true));
    h.send({ type: "bootSucceeded", bootId: "b1", threads: 2 });
    h.send({ type: "bootSucceeded", bootId: "b2", threads: 2 });
    for (const id of ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]) h.checkout(id);
    const on = (runnerId: string) =>
      h.log.flatMap((e) => (e.type === "grant" && e.runnerId === runnerId ? [e.checkoutId] : []));
    expect([on("r1").length, on("r2").length]).toEqual([4, 4]);
    const [first, second, third] = on("r1") as [string, string, string, string];
    // r1's two running calls end: it starts its two queued ones; one of those ends too.
    h.checkin(first).checkin(second).checkin(third);
    // A slot is free on r1: r2 is asked back its newest queued call.
    const asked = h.log.filter((e) => e.type === "unqueue");
    expect(asked).toEqual([{ type: "unqueue", checkoutId: on("r2")[3], runnerId: "r2" }]);
  });
});

describe("prefetch: a queued call is taken back when a slot frees elsewhere", () => {
  it("unqueues it from its runner, then grants it the free slot", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkin("c1").expect(unqueue("c3", "r1"));
    h.unqueued("c3").expect(grant("c3", "r2"));
    expect(h.snapshot().runners.map((r) => [r.id, r.inflight, r.queued])).toEqual([
      ["r1", 1, 0],
      ["r2", 1, 0],
    ]);
    // Its wait is reported once, with its first grant.
    expect(h.telemetry("checkout").filter((e) => e.checkoutId === "c3")).toHaveLength(1);
  });

  it("keeps its original run deadline when granted again", () => {
    const h = twoBusyRunners();
    h.advanceTo(100).checkout("c3", 5_000).expect(grant("c3", "r1"));
    expect(h.runDeadline("c3")).toBe(5_100);
    h.advanceTo(400).checkin("c1").expect(unqueue("c3", "r1"));
    h.unqueued("c3").expect(grant("c3", "r2"));
    expect(h.runDeadline("c3")).toBe(5_100);
  });

  it("nothing is taken back while callers wait in the pool: they take the slot", () => {
    const h = twoBusyRunners();
    h.checkout("c3").checkout("c4").checkout("c5").expect(grant("c3", "r1"), grant("c4", "r2"));
    h.checkin("c1").expect(grant("c5", "r2"));
  });

  it("if its runner started it meanwhile, nothing more happens; its answer checks it in", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkin("c1").expect(unqueue("c3", "r1"));
    // r1's call ended before the unqueue arrived: r1 started c3 and ignores the unqueue.
    h.checkin("c2").expectNothing();
    h.checkin("c3").expectNothing();
    expect(h.snapshot().runners.map((r) => r.inflight)).toEqual([0, 0]);
  });

  it("given back after a new caller took the free slot, it goes first: queued again or first in line", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkin("c1").expect(unqueue("c3", "r1"));
    // c4 arrives before c3 is given back and takes r2's free slot.
    h.checkout("c4").expect(grant("c4", "r2"));
    // r1 has room to hold one queued: c3 goes back there rather than behind anyone.
    h.unqueued("c3").expect(grant("c3", "r1"));
    h.checkout("c5").expect(grant("c5", "r2"));
    h.checkout("c6").expectNothing();
    expect(h.snapshot().waiting).toBe(1);
  });

  it("given back with no room anywhere, it waits first in the pool, even beyond maxWaiting", () => {
    const h = twoBusyRunners({ maxWaiting: 1 });
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkin("c1").expect(unqueue("c3", "r1"));
    h.checkout("c4").checkout("c5").expect(grant("c4", "r2"), grant("c5", "r2"));
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "failsafe" });
    h.checkout("c6").expectNothing();
    // r1 gives c3 back on its way out: no runner has room, and it was admitted long ago.
    h.unqueued("c3").expectNothing();
    expect(h.snapshot().waiting).toBe(2);
    h.checkout("c7").expect(reject("c7", "OVERLOADED"));
    // r2's c4 ends: r2 starts c5, and c3 (first in line) goes queued there.
    h.checkin("c4").expect(grant("c3", "r2"));
    // Its wait was reported once, with its first grant: the wait-time histogram counts a call once.
    expect(h.telemetry("checkout").filter((e) => e.checkoutId === "c3")).toHaveLength(1);
  });

  it("given back after the pool stopped, its caller fails POOL_STOPPED", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.checkin("c1").expect(unqueue("c3", "r1"));
    h.stop().expect(shutdown("r1", "stop"), shutdown("r2", "stop"));
    h.unqueued("c3").expect(reject("c3", "POOL_STOPPED"));
  });

  it("a caller answered while queued (aborted) is not asked back: its cancel frees it", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.send({ type: "answered", checkoutId: "c3" });
    h.checkin("c1").expectNothing();
    h.checkin("c3").expectNothing();
  });

  it("a runner giving back a call it did not hold queued fails that call RUNNER_DOWN and frees its slot", () => {
    const h = twoBusyRunners();
    h.checkout("c3").checkout("c4").checkout("c5").expect(grant("c3", "r1"), grant("c4", "r2"));
    // r2 runs c4 from now on (it started when c1's slot freed): c5 goes queued there.
    h.unqueued("c1").expect(reject("c1", "RUNNER_DOWN"), grant("c5", "r2"));
    expect(h.errorOf("c1")?.message).toMatch(/was not holding queued/);
  });
});

describe("prefetch: runners that go away", () => {
  it("a queued call is lost with its runner like a running one (failed, or retried)", () => {
    const h = twoBusyRunners();
    h.send({
      type: "checkout",
      checkoutId: "c3",
      timeoutMs: null,
      retry: { runnerDown: 1, backoffMs: 0 },
    });
    h.checkout("c4").expect(grant("c3", "r1"), grant("c4", "r2"));
    h.runnerDown("r1").expect(
      failCheckout("c2", "RUNNER_DOWN"),
      retryCheckout("c3", 1),
      boot("b3", true),
    );
    // The retry waits in the pool (a boot is in flight), then takes the new runner.
    h.bootSucceeds("b3", "r3").expect(grant("c3", "r3"));
  });

  it("queued calls are demand: a pool below max boots, and the new runner takes them back", () => {
    const h = scenario({ min: 0, max: 2, maxConcurrency: 1, prefetch: true }).start();
    h.checkout("c1").expect(boot("b1")).checkout("c2").expect(boot("b2"));
    h.bootSucceeds("b1", "r1").expect(grant("c1", "r1"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.checkout("c3").checkout("c4").expect(grant("c3", "r2"), grant("c4", "r1"));
    // r2 crashes: c2 and its queued c3 fail; the pool is below max while c4 waits on r1.
    h.runnerDown("r2").expect(
      failCheckout("c2", "RUNNER_DOWN"),
      failCheckout("c3", "RUNNER_DOWN"),
      boot("b3"),
    );
    h.bootSucceeds("b3", "r3").expect(unqueue("c4", "r1"));
    h.unqueued("c4").expect(grant("c4", "r3"));
  });

  it("a runner asked to leave keeps its queued call (it runs it before it exits)", () => {
    const h = twoBusyRunners();
    h.checkout("c3").expect(grant("c3", "r1"));
    h.send({ type: "drainRunner", runnerId: "r1" }).expect(shutdown("r1", "operator"));
    h.checkin("c1").expectNothing();
  });
});
