/**
 * Issue 24: opt-in retries of a call whose runner died (RUNNER_DOWN). The core decides: only a
 * call with a retry policy and attempts left, never one whose caller was answered (the runner
 * answered, or the backstop did), never a child, always within the call's original deadline,
 * and queued again by the usual rules (maxWaiting, FIFO, stop and drain).
 */
import { describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../src/core/index.js";
import {
  abortBoot,
  boot,
  failCheckout,
  grant,
  reject,
  retryCheckout,
  type Scenario,
  scenario,
  shutdown,
  stopped,
} from "./harness.js";

const once: RetryPolicy = { runnerDown: 1, backoffMs: 100 };

function retryingCheckout(
  h: Scenario,
  checkoutId: string,
  timeoutMs: number | null,
  retry: RetryPolicy = once,
): Scenario {
  return h.send({ type: "checkout", checkoutId, timeoutMs, retry });
}

/** One ready runner (r1) of a pool of `max` with one slot each; c1 (retry once) runs on it. */
function runningOnR1(config: { max?: number; maxWaiting?: number | null } = {}): Scenario {
  const h = scenario({ min: 1, max: 2, ...config })
    .start()
    .expect(boot("b1", true));
  h.bootSucceeds("b1", "r1");
  return retryingCheckout(h, "c1", 10_000).expect(grant("c1", "r1"));
}

describe("retry on runner loss", () => {
  it("a runner loss re-queues the call after its backoff; it runs again within its first deadline", () => {
    const h = runningOnR1();
    h.advanceTo(1_000).runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    expect(h.snapshot().waiting).toBe(0);
    h.advanceTo(1_100).expectNothing();
    expect(h.snapshot().waiting).toBe(1);
    h.advanceTo(1_500).bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
    // The retry never extends the call: its run ends at the first attempt's deadline.
    expect(h.runDeadline("c1")).toBe(10_000);
  });

  it("with no backoff the call queues again in the step that lost its runner, never on that runner", () => {
    const h = scenario({ max: 2 }).start();
    h.checkout("c0").expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant("c0", "r1"));
    retryingCheckout(h, "c1", null, { runnerDown: 1, backoffMs: 0 }).expect(boot("b2"));
    h.bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
    h.checkin("c0");
    h.runnerDown("r2").expect(retryCheckout("c1", 1), grant("c1", "r1"));
  });

  it("fails RUNNER_DOWN once the retries are used up", () => {
    const h = runningOnR1();
    h.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    h.advanceTo(100).bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
    h.runnerDown("r2").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b3", true));
  });

  it("never retries a call whose caller was answered (the runner answered; the slot was held)", () => {
    const h = runningOnR1();
    h.send({ type: "answered", checkoutId: "c1" });
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b2", true));
  });

  it("never retries a call the backstop answered", () => {
    const h = runningOnR1();
    h.advanceTo(11_000).expect(failCheckout("c1", "TIMEOUT"));
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b2", true));
  });

  it("never retries a placed child", () => {
    const h = runningOnR1();
    h.convertToChild("c1", "child-1");
    h.runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b2", true));
  });

  it("fails at once when the backoff would end at or past the call's deadline", () => {
    const h = runningOnR1();
    h.advanceTo(9_900).runnerDown("r1").expect(failCheckout("c1", "RUNNER_DOWN"), boot("b2", true));
  });

  it("times out at the call's first deadline, not a boot timeout later, while waiting again", () => {
    const h = runningOnR1();
    h.advanceTo(1_000).runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    // A cold first caller would wait max(timeout, bootTimeout); a retried one keeps its deadline.
    h.advanceTo(10_000).expect(reject("c1", "TIMEOUT"));
  });

  it("queues behind the callers already waiting (FIFO) and obeys maxWaiting", () => {
    const h = runningOnR1({ max: 1, maxWaiting: 1 });
    h.checkout("c2").expectNothing();
    h.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    // The queue is full (c2): the retried call is refused like a new caller would be.
    h.advanceTo(100).expect(reject("c1", "OVERLOADED"));
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
  });

  it("a retried call joins the queue at its tail", () => {
    const h = runningOnR1({ max: 1 });
    h.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    h.checkout("c2").expectNothing();
    h.advanceTo(100).expectNothing();
    h.bootSucceeds("b2", "r2").expect(grant("c2", "r2"));
    h.checkin("c2").expect(grant("c1", "r2"));
  });

  it("its caller going away during the backoff withdraws it", () => {
    const h = runningOnR1();
    h.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    h.callerGone("c1").advanceTo(100).expectNothing();
    expect(h.snapshot().waiting).toBe(0);
  });

  it("stop rejects a call in its backoff; drain waits for it to run", () => {
    const stopping = runningOnR1();
    stopping.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    stopping.stop().expect(reject("c1", "POOL_STOPPED"), abortBoot("b2"), stopped());

    const draining = runningOnR1();
    draining.runnerDown("r1").expect(retryCheckout("c1", 1), boot("b2", true));
    // Nothing runs and nobody waits, yet the drain is not over: c1 is in its backoff.
    draining.drain().expectNothing();
    draining.advanceTo(100).bootSucceeds("b2", "r2").expect(grant("c1", "r2"));
    draining.checkin("c1").expect(shutdown("r2", "stop"));
  });

  it("a runner loss after the pool stopped is not retried", () => {
    const h = runningOnR1();
    h.stop();
    h.runnerDown("r1");
    expect(h.errorOf("c1")?.code).toBe("RUNNER_DOWN");
  });
});
