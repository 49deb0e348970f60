/**
 * Issue 24: tracked resources and calls pinned to them, as core policy. A call answered with
 * tracked values becomes their holder (`convertToTracked`): it keeps its slot (no backstop, no
 * retry) until its checkin. Calls pinned to it (`checkout` with `on`) run on its runner, one at
 * a time, FIFO, in its slot (no slot of their own), and fail RESOURCE_GONE when it is gone.
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  checkIdle,
  failCheckout,
  forget,
  grant,
  kill,
  reject,
  runningOnR1,
  type Scenario,
  scenario,
  shutdown,
  stopped,
} from "./harness.js";

/** r1 (1 slot unless said otherwise) runs `h`, which answered with tracked values. */
function holderOnR1(config: Parameters<typeof scenario>[0] = {}): Scenario {
  const h = runningOnR1({ max: 2, maxConcurrency: 1, ...config }, "h", (s) =>
    s.checkout("h", 10_000),
  );
  return h.convertToTracked("h").expectNothing();
}

function runner(h: Scenario, id: string) {
  return h.snapshot().runners.find((r) => r.id === id);
}

function answeredEarly(h: Scenario, checkoutId: string): boolean {
  return h.log.some(
    (e) => e.type === "failCheckout" && e.checkoutId === checkoutId && e.answeredEarly === true,
  );
}

describe("convertToTracked", () => {
  it("keeps the slot with no backstop until the holder's checkin", () => {
    const h = holderOnR1();
    // Its run deadline (10 s) and the grace pass: a holder is not a call any more.
    h.advanceTo(60_000).expectNothing();
    expect(runner(h, "r1")).toMatchObject({ inflight: 1, tracked: 1, pinned: 0 });
    // The slot stays held: another caller boots a second runner.
    h.checkout("c2").expect(boot("b2"));
    h.checkin("h").expect(grant("c2", "r1"));
    expect(runner(h, "r1")?.tracked).toBe(0);
  });

  it("clears the retry: a holder whose runner dies fails RUNNER_DOWN, never retried", () => {
    const h = scenario({ max: 1 }).start();
    h.send({
      type: "checkout",
      checkoutId: "h",
      timeoutMs: 10_000,
      retry: { runnerDown: 3, backoffMs: 0 },
    });
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("h", "r1"));
    h.convertToTracked("h").runnerDown("r1").expect(failCheckout("h", "RUNNER_DOWN"));
    expect(h.telemetry("shrink")).toHaveLength(1);
  });

  it("is ignored for a placed child and for an unknown checkout", () => {
    const h = scenario({ max: 1 }).start();
    h.send({ type: "checkout", checkoutId: "k", timeoutMs: null, unboundedRun: true });
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("k", "r1"));
    h.convertToChild("k", "child-k").convertToTracked("k").convertToTracked("nobody");
    expect(runner(h, "r1")?.tracked).toBe(0);
    h.pinned("p", "k").expect(reject("p", "RESOURCE_GONE"));
  });
});

describe("a pinned checkout", () => {
  it("is granted at once on the holder's runner with its own run deadline, taking no slot", () => {
    const h = holderOnR1();
    h.advanceTo(1_000).pinned("p1", "h", 5_000).expect(grant("p1", "r1"));
    expect(h.runDeadline("p1")).toBe(6_000);
    // r1 has one slot, held by h: the pinned call took none.
    expect(runner(h, "r1")).toMatchObject({ inflight: 1, tracked: 1, pinned: 1 });
    h.checkout("c2").expect(boot("b2"));
  });

  it("queues FIFO behind the holder's running pinned call", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").pinned("p3", "h").expect(grant("p1", "r1"));
    expect(runner(h, "r1")?.pinned).toBe(3);
    h.checkin("p1").expect(grant("p2", "r1"));
    h.checkin("p2").expect(grant("p3", "r1"));
    h.checkin("p3").expectNothing();
    expect(runner(h, "r1")).toMatchObject({ inflight: 1, pinned: 0, callsServed: 3 });
  });

  it("runs one at a time per holder, but two holders' calls run side by side", () => {
    const h = scenario({ max: 1, maxConcurrency: 2 }).start();
    h.checkout("h1").checkout("h2").expect(boot("b1")).bootSucceeds("b1", "r1");
    h.expect(grant("h1", "r1"), grant("h2", "r1"));
    h.convertToTracked("h1").convertToTracked("h2");
    h.pinned("p1", "h1").pinned("p2", "h2").pinned("p3", "h1");
    h.expect(grant("p1", "r1"), grant("p2", "r1"));
    h.checkin("p2").expectNothing();
    h.checkin("p1").expect(grant("p3", "r1"));
  });

  it("times out in the queue at its own deadline (TIMEOUT, like other queue timeouts)", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h", 2_000).pinned("p3", "h").expect(grant("p1", "r1"));
    h.advanceTo(1_999).expectNothing();
    h.advanceTo(2_000).expect(reject("p2", "TIMEOUT"));
    expect(h.errorOf("p2")?.message).toMatch(/pinned to the tracked resources of call h/);
    h.checkin("p1").expect(grant("p3", "r1"));
  });

  it("granted from the queue, runs until its call deadline, not a fresh timeout", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h", 5_000).expect(grant("p1", "r1"));
    h.advanceTo(3_000).checkin("p1").expect(grant("p2", "r1"));
    expect(h.runDeadline("p2")).toBe(5_000);
  });

  it("is refused POOL_STOPPED when the pool drains or stopped", () => {
    const h = holderOnR1();
    // A running pinned call keeps the drain going (a drain waits for calls).
    h.pinned("p0", "h").expect(grant("p0", "r1"));
    h.drain().pinned("p1", "h").expect(reject("p1", "POOL_STOPPED"));
    expect(h.errorOf("p1")?.message).toMatch(/is draining/);
    h.stop().expect(shutdown("r1", "stop"));
    h.pinned("p2", "h").expect(reject("p2", "POOL_STOPPED"));
    expect(h.errorOf("p2")?.message).toMatch(/is stopped/);
  });

  it("is refused TIMEOUT when its timeout already passed", () => {
    const h = holderOnR1();
    h.pinned("p1", "h", 0).expect(reject("p1", "TIMEOUT"));
    expect(runner(h, "r1")?.pinned).toBe(0);
  });

  it("is refused RESOURCE_GONE naming the holder and why", () => {
    const h = holderOnR1({ maxConcurrency: 2 });
    h.pinned("p1", "nobody").expect(reject("p1", "RESOURCE_GONE"));
    expect(h.errorOf("p1")?.message).toMatch(/call nobody, but they were released.*never existed/);
    h.checkout("plain").expect(grant("plain", "r1"));
    h.pinned("p2", "plain").expect(reject("p2", "RESOURCE_GONE"));
    expect(h.errorOf("p2")?.message).toMatch(
      /call plain, but that call holds no tracked resources/,
    );
    h.pinned("p3", "h").expect(grant("p3", "r1"));
    h.checkin("h").pinned("p4", "h").expect(reject("p4", "RESOURCE_GONE"));
    expect(h.errorOf("p4")?.message).toMatch(/call h, but they are being released/);
    h.checkin("p3").pinned("p5", "h").expect(reject("p5", "RESOURCE_GONE"));
    expect(h.errorOf("p5")?.message).toMatch(/call h, but they were released/);
  });

  it("is refused RESOURCE_GONE once the holder's runner is leaving", () => {
    const h = holderOnR1();
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "failsafe" });
    h.pinned("p1", "h").expect(reject("p1", "RESOURCE_GONE"));
    expect(h.errorOf("p1")?.message).toMatch(/their runner r1 is leaving \(announced\)/);
  });

  it("is still served by a draining runner (a resize down), which leaves after the holder", () => {
    const h = holderOnR1();
    h.checkout("c").expect(boot("b2")).bootSucceeds("b2", "r2").expect(grant("c", "r2"));
    h.resize(0, 1).expectNothing();
    expect(runner(h, "r1")?.phase).toBe("draining");
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.checkin("p1").expect(grant("p2", "r1"));
    h.checkin("p2").checkin("h").expect(shutdown("r1", "resize"));
  });

  it("an operator's drain asks the runner to exit: queued pinned calls fail, new ones too", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.send({ type: "drainRunner", runnerId: "r1" });
    h.expect(shutdown("r1", "operator"), reject("p2", "RESOURCE_GONE"));
    expect(h.errorOf("p2")?.message).toMatch(/their runner r1 is leaving \(operator\)/);
    h.pinned("p3", "h").expect(reject("p3", "RESOURCE_GONE"));
    h.checkin("p1").expectNothing();
  });

  it("has the backstop of any call: answered early at run deadline + grace, slot kept", () => {
    const h = holderOnR1();
    h.pinned("p1", "h", 2_000).pinned("p2", "h").expect(grant("p1", "r1"));
    h.advanceTo(2_999).expectNothing();
    h.advanceTo(3_000).expect(failCheckout("p1", "TIMEOUT"));
    expect(answeredEarly(h, "p1")).toBe(true);
    // The holder is busy with p1 until its work stops.
    h.advanceTo(9_000).expectNothing();
    h.checkin("p1").expect(grant("p2", "r1"));
  });

  it("ignores `answered` and a retry policy: its runner's loss fails it, never re-queued", () => {
    const h = holderOnR1();
    h.send({
      type: "checkout",
      checkoutId: "p1",
      timeoutMs: 10_000,
      on: "h",
      retry: { runnerDown: 3, backoffMs: 0 },
    });
    h.expect(grant("p1", "r1"));
    h.send({ type: "answered", checkoutId: "p1" }).expectNothing();
    h.runnerDown("r1").expect(failCheckout("p1", "RUNNER_DOWN"), failCheckout("h", "RUNNER_DOWN"));
  });
});

describe("a pinned call ends", () => {
  it("callerGone of a queued call removes it; of the running one, starts the next", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").pinned("p3", "h").pinned("p4", "h");
    h.expect(grant("p1", "r1"));
    h.callerGone("p2").expectNothing();
    h.callerGone("p1").expect(grant("p3", "r1"));
    h.checkin("p3").expect(grant("p4", "r1"));
  });

  it("a stray or repeated checkin of a pinned call is a no-op", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.checkin("p1").expect(grant("p2", "r1"));
    h.checkin("p1").callerGone("p1").expectNothing();
    expect(runner(h, "r1")).toMatchObject({ inflight: 1, tracked: 1, pinned: 1 });
  });
});

describe("the holder's checkin", () => {
  it("rejects its queued calls RESOURCE_GONE and frees the slot when the running one ends", () => {
    const h = holderOnR1({ idleShutdownAfterMs: 1_000 });
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.checkout("c1").expect(boot("b2"));
    h.checkin("h").expect(reject("p2", "RESOURCE_GONE"));
    expect(h.errorOf("p2")?.message).toMatch(/call h, but they were released/);
    expect(runner(h, "r1")?.inflight).toBe(1);
    // The slot passes to the waiter only once the pinned call ends.
    h.checkin("p1").expect(grant("c1", "r1"));
  });

  it("with nothing pinned running, frees the slot at once (the usual release)", () => {
    const h = holderOnR1({ idleShutdownAfterMs: 1_000 });
    h.advanceTo(500).checkin("h").expectNothing();
    expect(runner(h, "r1")).toMatchObject({ inflight: 0, tracked: 0 });
    h.advanceTo(1_500).expect(shutdown("r1", "idle"));
  });

  it("ends a single-use runner", () => {
    const h = holderOnR1({ singleUse: true });
    h.pinned("p1", "h").expect(grant("p1", "r1"));
    h.checkin("h").expectNothing();
    h.checkin("p1").expect(shutdown("r1", "single_use"));
  });
});

describe("the holder's runner goes", () => {
  it("down: queued calls RESOURCE_GONE, the running one and the holder RUNNER_DOWN", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.runnerDown("r1", "oom").expect(
      reject("p2", "RESOURCE_GONE"),
      failCheckout("p1", "RUNNER_DOWN"),
      failCheckout("h", "RUNNER_DOWN"),
    );
    expect(h.errorOf("p2")?.message).toMatch(/their runner r1 went down: oom/);
    h.pinned("p3", "h").expect(reject("p3", "RESOURCE_GONE"));
  });

  it("leaving: queued calls fail at once, the running one finishes", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.send({ type: "runnerLeaving", runnerId: "r1", reason: "failsafe" });
    h.expect(reject("p2", "RESOURCE_GONE"));
    h.checkin("p1").expectNothing();
    h.runnerDown("r1", "left").expect(failCheckout("h", "RUNNER_DOWN"));
  });

  it("abandoned (killed, exit never reported): its pinned calls fail like a runner down", () => {
    const h = holderOnR1({ shutdownTimeoutMs: 1_000, killGraceMs: 500 });
    h.pinned("p1", "h").expect(grant("p1", "r1"));
    h.stop().expect(shutdown("r1", "stop"));
    h.advanceTo(1_000).expect(kill("r1"));
    h.advanceTo(1_500).expect(
      forget("r1"),
      failCheckout("p1", "RUNNER_DOWN"),
      failCheckout("h", "RUNNER_DOWN"),
      stopped(),
    );
  });
});

describe("stop, drain and idle with holders", () => {
  it("stop refuses queued pinned calls and does not wait for holders", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.stop().expect(reject("p2", "POOL_STOPPED"), shutdown("r1", "stop"));
    h.runnerDown("r1", "left").expect(
      failCheckout("p1", "RUNNER_DOWN"),
      failCheckout("h", "RUNNER_DOWN"),
      stopped(),
    );
  });

  it("a holder made by an unlinked call does not make the stop wait either", () => {
    const h = scenario({ max: 1, shutdownTimeoutMs: 5_000 }).start();
    h.send({ type: "checkout", checkoutId: "h", timeoutMs: null, unlinked: true });
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("h", "r1"));
    h.convertToTracked("h").stop().expect(shutdown("r1", "stop"));
    expect(h.telemetry("unlinkedWait")).toEqual([]);
  });

  it("a runner waiting at stop for unlinked work leaves when that work ends, holder or not", () => {
    const h = scenario({ max: 1, maxConcurrency: 2, shutdownTimeoutMs: 5_000 }).start();
    h.checkout("h").send({ type: "checkout", checkoutId: "u", timeoutMs: null, unlinked: true });
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("h", "r1"), grant("u", "r1"));
    h.convertToTracked("h").stop().expectNothing();
    expect(h.telemetry("unlinkedWait")).toMatchObject([{ runnerId: "r1", unlinked: 1 }]);
    h.advanceTo(1_000).checkin("u").expect(shutdown("r1", "stop"));
  });

  it("unlinked work a runner waits for at stop that ends as a holder lets the runner leave", () => {
    const h = scenario({ max: 1, shutdownTimeoutMs: 5_000 }).start();
    h.send({ type: "checkout", checkoutId: "u", timeoutMs: null, unlinked: true });
    h.expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("u", "r1"));
    h.stop().expectNothing();
    h.advanceTo(1_000).convertToTracked("u").expect(shutdown("r1", "stop"));
  });

  it("a drain ends with holders still alive, but waits for pinned calls", () => {
    const h = holderOnR1();
    h.pinned("p1", "h").pinned("p2", "h").expect(grant("p1", "r1"));
    h.drain().expectNothing();
    h.checkin("p1").expect(grant("p2", "r1"));
    h.checkin("p2").expect(shutdown("r1", "stop"));
  });

  it("a drain with only holders left stops at once", () => {
    const h = holderOnR1();
    h.drain().expect(shutdown("r1", "stop"));
  });

  it("a runner with a holder survives its idle deadline and idles out after the checkin", () => {
    const h = holderOnR1({ idleShutdownAfterMs: 1_000, hasIdleCheck: true });
    h.pinned("p1", "h").expect(grant("p1", "r1")).checkin("p1");
    h.advanceTo(30_000).expectNothing();
    expect(runner(h, "r1")?.phase).toBe("ready");
    h.checkin("h").advanceTo(30_999).expectNothing();
    h.advanceTo(31_000).expect(checkIdle("r1"));
  });
});

describe("the snapshot", () => {
  it("counts holders and pinned calls (running plus queued) per runner", () => {
    const h = scenario({ max: 2, maxConcurrency: 3 }).start();
    h.checkout("h1").checkout("h2").checkout("c").expect(boot("b1")).bootSucceeds("b1", "r1");
    h.expect(grant("h1", "r1"), grant("h2", "r1"), grant("c", "r1"));
    h.convertToTracked("h1").convertToTracked("h2");
    h.pinned("p1", "h1").pinned("p2", "h1").pinned("p3", "h2");
    h.expect(grant("p1", "r1"), grant("p3", "r1"));
    expect(runner(h, "r1")).toMatchObject({ inflight: 3, tracked: 2, pinned: 3 });
  });
});
