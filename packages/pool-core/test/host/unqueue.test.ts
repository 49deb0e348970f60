/**
 * The host carries the core's `unqueue` (issue 23's prefetch): a call granted to a runner that
 * holds it queued is asked back when a slot frees elsewhere. Given back unstarted, a call whose
 * caller still waits waits again (the core hears `unqueued`; its next grant sends the same call
 * anew: same input, idempotency key and attempt, no retry); one whose caller was answered
 * meanwhile has stopped, so its slot is checked in.
 *
 * The host is tested against the core's contract, not its policy: a stand-in around the real
 * core (the module the host's mailbox imports) adds the `unqueue` a test names and answers
 * `unqueued` with the grant the test names.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CoreEvent, Effect } from "../../src/core/index.js";
import type { FakeConnection } from "./fakes.js";
import { flush } from "./fakes.js";
import { echo, outcome, useVirtualPools } from "./virtual-pool.js";

const standIn = vi.hoisted(() => ({
  /** Every event the core was given, in order. */
  events: [] as CoreEvent[],
  /** Effects carried out after the real core's own, at the next event of that type. */
  after: new Map<string, Effect[]>(),
  /** What the core does on `unqueued` (placing the call again is its policy). */
  onUnqueued: (_checkoutId: string): Effect[] => [],
}));

vi.mock("../../src/core/index.js", async (importOriginal) => {
  const core = await importOriginal<typeof import("../../src/core/index.js")>();
  return {
    ...core,
    step(...[state, event, nowMs]: Parameters<typeof core.step>): ReturnType<typeof core.step> {
      standIn.events.push(event);
      // Not handed to the real core: it still counts the call on its first runner, as it did
      // before it asked for it back, until the call's checkin.
      if (event.type === "unqueued")
        return { state, effects: standIn.onUnqueued(event.checkoutId) };
      const stepped = core.step(state, event, nowMs);
      const added = standIn.after.get(event.type) ?? [];
      standIn.after.delete(event.type);
      return { state: stepped.state, effects: [...stepped.effects, ...added] };
    },
  };
});

const setup = useVirtualPools();

beforeEach(() => {
  standIn.events = [];
  standIn.after.clear();
  standIn.onUnqueued = () => [];
});

/**
 * A pool with two runners up and one call running on each (none waits): `first` on runner
 * `a`, `second` on `b`. The pool's `retry` gives each call an idempotency key to compare.
 */
async function twoCallsOnTwoRunners(firstSignal?: AbortSignal) {
  const made = setup({ min: 2, max: 2, maxConcurrency: 1, retry: { runnerDown: 1 } });
  const { pool, world, clock } = made;
  const started = pool.start();
  await clock.advance(100);
  await started;
  const first = outcome(
    pool.call(echo, { n: 1 }, firstSignal === undefined ? {} : { signal: firstSignal }),
  );
  const second = outcome(pool.call(echo, { n: 2 }));
  await flush();
  const conns = world.live().map((r) => r.conn as FakeConnection);
  const runningOn = (n: number) => {
    const conn = conns.find((c) => c.sent.some((s) => (s.args as { n: number }).n === n));
    if (conn === undefined) throw new Error(`call ${n} was not sent`);
    return conn;
  };
  const a = runningOn(1);
  const b = runningOn(2);
  expect(a).not.toBe(b);
  const checkoutIds = standIn.events.flatMap((e) => (e.type === "checkout" ? [e.checkoutId] : []));
  const [firstId, secondId] = checkoutIds as [string, string];
  const requestOf = (conn: FakeConnection, n: number) =>
    conn.sent.find((s) => (s.args as { n: number }).n === n) as FakeConnection["sent"][number];
  /** Ends call `n` where the fake runner runs it now (its latest request). */
  const answer = async (n: number, value: unknown) => {
    const running = made.calls.pending.filter((p) => (p.args as { n: number }).n === n).at(-1);
    running?.resolve(value);
    await flush();
  };
  return { ...made, first, second, a, b, firstId, secondId, requestOf, answer };
}

/** Events of one type the core was given for `checkoutId`. */
function heard(type: CoreEvent["type"], checkoutId: string): CoreEvent[] {
  return standIn.events.filter(
    (e) => e.type === type && "checkoutId" in e && e.checkoutId === checkoutId,
  );
}

describe("the core's unqueue", () => {
  it("asks the runner back for the call; given back, it waits and its re-grant sends the same call anew", async () => {
    const t = await twoCallsOnTwoRunners();
    const sentFirst = t.requestOf(t.a, 1);
    expect(sentFirst.idempotencyKey).toMatch(/.+/);
    // A slot frees on b: the core asks a for the call it holds.
    standIn.after.set("checkin", [
      { type: "unqueue", checkoutId: t.firstId, runnerId: t.a.runnerId },
    ]);
    await t.answer(2, "two");
    expect(t.second.current).toBe("two");
    expect(t.a.unqueues).toEqual([sentFirst.id]);

    standIn.onUnqueued = (checkoutId) => [
      { type: "grant", checkoutId, runnerId: t.b.runnerId, runDeadlineMs: null },
    ];
    t.a.giveBack(sentFirst.id);
    await flush();
    expect(heard("unqueued", t.firstId)).toHaveLength(1);
    expect(t.first.current).toBeUndefined();
    // The same call, sent anew where the core placed it: not a retry.
    const resent = t.requestOf(t.b, 1);
    expect(resent).toMatchObject({
      fn: echo.id,
      args: { n: 1 },
      idempotencyKey: sentFirst.idempotencyKey,
      attempt: sentFirst.attempt,
    });
    expect(sentFirst.attempt).toBe(1);
    expect(t.events.some((e) => e.type === "callRetry")).toBe(false);

    await t.answer(1, "one");
    expect(t.first.current).toBe("one");
    expect(heard("checkin", t.firstId)).toEqual([
      { type: "checkin", checkoutId: t.firstId, reason: "done" },
    ]);
    // Reported once, on the runner that ran it.
    const finished = t.events.filter((e) => e.type === "callFinished");
    expect(finished.map((e) => e.runnerId)).toEqual([t.b.runnerId, t.b.runnerId]);
    expect(t.a.inflight + t.b.inflight).toBe(0);
  });

  it("asks nothing of a runner the call is not on, nor for a call already answered", async () => {
    const t = await twoCallsOnTwoRunners();
    // Each link numbers its own requests: only the runner tells these two apart.
    expect(t.requestOf(t.a, 1).id).toBe(t.requestOf(t.b, 2).id);
    standIn.after.set("resize", [
      { type: "unqueue", checkoutId: t.firstId, runnerId: t.b.runnerId },
    ]);
    t.pool.resize({ min: 2, max: 2 }); // any event would do: this one changes nothing
    standIn.after.set("checkin", [
      { type: "unqueue", checkoutId: t.firstId, runnerId: t.a.runnerId },
    ]);
    await t.answer(1, "one");
    expect(t.first.current).toBe("one");
    expect(heard("checkin", t.firstId)).toHaveLength(1);
    expect(standIn.after.size).toBe(0);
    expect(t.a.unqueues).toEqual([]);
    expect(t.b.unqueues).toEqual([]);
    await t.answer(2, "two");
    expect(t.second.current).toBe("two");
  });

  it("a call whose caller aborted, then given back, checks its slot in: it never ran", async () => {
    const controller = new AbortController();
    const t = await twoCallsOnTwoRunners(controller.signal);
    const sentFirst = t.requestOf(t.a, 1);
    standIn.after.set("checkin", [
      { type: "unqueue", checkoutId: t.firstId, runnerId: t.a.runnerId },
    ]);
    await t.answer(2, "two");
    expect(t.a.unqueues).toEqual([sentFirst.id]);
    // The runner had handled the unqueue before the cancel reached it: it gives the call back.
    controller.abort();
    expect(t.a.cancelled).toEqual([sentFirst.id]);
    t.a.giveBack(sentFirst.id);
    await flush();
    expect(t.first.current).toBe("ABORTED");
    expect(heard("unqueued", t.firstId)).toEqual([]);
    expect(heard("checkin", t.firstId)).toEqual([
      { type: "checkin", checkoutId: t.firstId, reason: "error" },
    ]);
    expect(t.a.inflight).toBe(0);
    expect(t.pool.snapshot().runners.map((r) => r.inflight)).toEqual([0, 0]);
  });
});
