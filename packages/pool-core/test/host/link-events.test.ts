/**
 * Issue 21 through the Pool host on virtual time: one owner for failure and deadlines. A link
 * that closes mid-call is told to the core before any call fails; the backstop for a runner
 * that never answers is the core's (`link.deadlineGrace`); a runner's leaving announcement
 * stops grants to it; an operator's kill is reported as such.
 */
import { describe, expect, it } from "vitest";
import { isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { useVirtualPools } from "./virtual-pool.js";

const echo = defineFunction("host-link-events.echo", (input: unknown) => input);

const setup = useVirtualPools();

/** The outcome of a call: its value, or its error code. */
function outcome(promise: Promise<unknown>): { current: unknown; message?: string } {
  const box: { current: unknown; message?: string } = { current: undefined };
  promise.then(
    (v) => {
      box.current = v;
    },
    (e: unknown) => {
      box.current = isFlameError(e) ? e.code : `non-flame: ${String(e)}`;
      box.message = (e as Error).message;
    },
  );
  return box;
}

describe("a runner's link closes mid-call", () => {
  it("the core hears it first: the caller fails RUNNER_DOWN once, from the core, and that runner is never granted again", async () => {
    const { pool, world, clock, events, calls } = setup({ max: 2, maxConcurrency: 2 });
    const doomed = outcome(pool.call(echo, "first"));
    await clock.advance(100);
    const conn = world.runners[0]?.conn;
    if (conn === null || conn === undefined) throw new Error("no runner");
    expect(conn.requests).toBe(1);
    // The socket closes (the process is still there: no exit reported), and in the same tick
    // another caller arrives while the dead runner still had a free slot.
    conn.terminate("socket closed");
    const next = outcome(pool.call(echo, "second"));
    expect(conn.requests).toBe(1); // nothing granted on the dead runner
    await clock.advance(0);
    expect(doomed.current).toBe("RUNNER_DOWN");
    // The core's failCheckout, not a verdict of the link's.
    expect(doomed.message).toMatch(/went down: link closed: socket closed/);
    const finished = events.filter(
      (e) => e.type === "callFinished" && e.runnerId === conn.runnerId,
    );
    expect(finished).toHaveLength(1);
    await clock.advance(100);
    expect(world.runners).toHaveLength(2);
    calls.pending.at(-1)?.resolve("second");
    await clock.advance(0);
    expect(next.current).toBe("second");
  });
});

describe("a link that closes between the hello and the pool taking the runner in", () => {
  it("is a failed boot, retried: the core never learns of a runner that is already gone", async () => {
    const { pool, world, clock, events, calls } = setup({ max: 1 });
    world.closeAfterHelloNext = 1;
    const call = outcome(pool.call(echo, "x"));
    await clock.advance(100);
    const failed = events.find((e) => e.type === "growEnd" && !e.ok);
    expect(failed).toMatchObject({
      error: expect.stringMatching(/link closed right after its hello/),
    });
    expect(events.filter((e) => e.type === "runnerUp")).toHaveLength(0);
    await clock.advance(1_100); // the retry debounce, then the second boot's hello
    expect(world.runners).toHaveLength(2);
    calls.pending[0]?.resolve("x");
    await clock.advance(0);
    expect(call.current).toBe("x");
  });
});

describe("a runner that never answers", () => {
  it("the core's backstop fails the call TIMEOUT at its deadline plus link.deadlineGrace, on the pool's clock, and cancels it on the runner", async () => {
    const { pool, world, clock } = setup({ max: 1, timeout: 1_000, link: { deadlineGrace: 300 } });
    world.handler = () => new Promise(() => {}); // silent: no answer, not even to a cancel
    const silent = outcome(pool.call(echo, "x"));
    await clock.advance(100); // booted and granted: a cold caller runs for its whole timeout
    await clock.advance(1_299);
    expect(silent.current).toBeUndefined();
    await clock.advance(1);
    expect(silent.current).toBe("TIMEOUT");
    expect(silent.message).toMatch(/did not answer within 300 ms.*link\.deadlineGrace/);
    const conn = world.runners[0]?.conn;
    expect(conn?.cancelled).toHaveLength(1);
    // The work may still run there: its slot stays taken until it stops or the runner goes.
    expect(pool.snapshot().runners[0]?.inflight).toBe(1);
    world.runners[0]?.crash("wedged");
    await clock.advance(0);
    expect(pool.snapshot().runners).toEqual([]);
  });
});

describe("a runner that announces it is leaving", () => {
  it("gets no new work: the next caller gets another runner", async () => {
    const { pool, world, clock, calls } = setup({ max: 2, maxConcurrency: 2 });
    const first = outcome(pool.call(echo, "first"));
    await clock.advance(100);
    const leaving = world.runners[0]?.conn;
    if (leaving === null || leaving === undefined) throw new Error("no runner");
    leaving.announceLeaving("failsafe");
    expect(pool.snapshot().runners[0]?.state).toBe("draining");
    const second = outcome(pool.call(echo, "second"));
    await clock.advance(100);
    expect(leaving.requests).toBe(1);
    expect(world.runners).toHaveLength(2);
    // What it runs may still finish.
    for (const call of calls.pending) call.resolve(call.args);
    await clock.advance(0);
    expect(first.current).toBe("first");
    expect(second.current).toBe("second");
  });
});

describe("an operator's kill", () => {
  it("is reported as such: the runner's exit event says operator, not a crash", async () => {
    const { pool, world, clock, events } = setup({ min: 1, max: 1 });
    await Promise.all([pool.start(), clock.advance(100)]);
    const runnerId = world.runners[0]?.req.runnerId as string;
    expect(pool.killRunner(runnerId, { by: "dashboard" })).toBe(true);
    await clock.advance(0);
    const down = events.find((e) => e.type === "runnerDown" && e.runnerId === runnerId);
    expect(down).toMatchObject({ cause: "operator", expected: true });
    // A crash is still one.
    await clock.advance(100);
    const next = world.runners[1];
    next?.crash("segfault", 139);
    await clock.advance(0);
    const crash = events.find((e) => e.type === "runnerDown" && e.runnerId === next?.req.runnerId);
    expect(crash).toMatchObject({ expected: false });
    expect(crash).not.toHaveProperty("cause");
  });
});
