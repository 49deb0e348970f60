/**
 * The agent's lifecycle machine on virtual time, once serving: deadlines, the terminate grace,
 * drain, single use, idle. No processes, no sleeps: time jumps to each `nextDeadline`.
 * (Connecting and the failsafe: agent-life.test.ts; slots and the queue: lifecycle-queue.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { nextDeadline } from "../../src/lifecycle/machine.js";
import { machine } from "./lifecycle-machine.js";

describe("agent lifecycle", () => {
  it("a deadline whose task already ended wakes the driver once and fires nothing; the next real one still fires", () => {
    const m = machine({ terminateGraceMs: 500 });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: 100 });
    m.send({ type: "work", id: 2, kind: "call", timeoutMs: 300 });
    m.send({ type: "work", id: 3, kind: "call", timeoutMs: null });
    m.send({ type: "taskEnded", id: 1 });
    // Call 1's deadline is stale: a tick there answers nobody, and the next wake-up is call 2's.
    expect(m.types(m.advanceTo(299))).toEqual([]);
    expect(nextDeadline(m.state)).toBe(300);
    expect(m.types(m.advanceTo(300))).toEqual(["answeredEarly:2", "abort:2"]);
    expect(nextDeadline(m.state)).toBe(800);
    m.send({ type: "taskEnded", id: 2 });
    expect(m.types(m.advanceTo(10_000))).toEqual([]);
    // Only the call without a deadline is left: nothing is scheduled any more.
    expect(nextDeadline(m.state)).toBeNull();
  });

  it("a call past its deadline is answered TIMEOUT at once, aborted, then terminated after the grace", () => {
    const m = machine({ terminateGraceMs: 500 });
    expect(m.types(m.send({ type: "work", id: 1, kind: "call", timeoutMs: 1_000 }))).toEqual([
      "run:1",
    ]);
    expect(nextDeadline(m.state)).toBe(1_000);
    expect(m.types(m.advanceTo(999))).toEqual([]);
    const atDeadline = m.advanceTo(1_000);
    expect(m.types(atDeadline)).toEqual(["answeredEarly:1", "abort:1"]);
    expect(atDeadline[0]).toMatchObject({ error: { code: "TIMEOUT" } });
    expect(m.types(m.advanceTo(1_500))).toEqual(["terminate:1"]);
    // The thread is gone: the task ended, the parent gets `ended` (it already has TIMEOUT).
    expect(m.send({ type: "taskEnded", id: 1 })).toEqual([{ type: "report", id: 1, how: "ended" }]);
    expect(nextDeadline(m.state)).toBe(null);
  });

  it("a function that stops within the grace is not terminated", () => {
    const m = machine({ terminateGraceMs: 500 });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: 100 });
    m.advanceTo(100);
    expect(m.send({ type: "taskEnded", id: 1 })).toEqual([{ type: "report", id: 1, how: "ended" }]);
    expect(m.types(m.advanceTo(10_000))).toEqual([]);
  });

  it("a cancel aborts without answering (the parent already did); a late cancel is a no-op", () => {
    const m = machine();
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.types(m.send({ type: "cancel", id: 1 }))).toEqual(["abort:1"]);
    expect(m.types(m.send({ type: "cancel", id: 1 }))).toEqual([]);
    expect(m.send({ type: "taskEnded", id: 1 })).toEqual([{ type: "report", id: 1, how: "ended" }]);
    expect(m.types(m.send({ type: "cancel", id: 1 }))).toEqual([]);
  });

  it("a stopped child that ignores its signal is terminated after the grace and reports its outcome", () => {
    const m = machine({ terminateGraceMs: 200 });
    m.send({ type: "work", id: 4, kind: "child", timeoutMs: null });
    expect(m.types(m.send({ type: "stopChild", id: 4 }))).toEqual(["abort:4"]);
    expect(m.types(m.advanceTo(200))).toEqual(["terminate:4"]);
    expect(m.send({ type: "taskEnded", id: 4 })).toEqual([
      { type: "report", id: 4, how: "outcome" },
    ]);
  });

  it("drain: no new work, running calls finish, then it leaves; the bound fails the rest", () => {
    const m = machine();
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    m.send({ type: "work", id: 2, kind: "call", timeoutMs: null });
    expect(m.types(m.send({ type: "shutdown", reason: "stop", timeoutMs: 300 }))).toEqual([]);
    expect(m.types(m.send({ type: "work", id: 3, kind: "call", timeoutMs: null }))).toEqual([
      "refuse:3",
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
    const bound = m.advanceTo(300);
    expect(m.types(bound)).toEqual(["answeredEarly:2", "leave"]);
    expect(bound[1]).toMatchObject({
      exit: "OK",
      reason: expect.stringContaining("drain bound of 300 ms"),
    });
  });

  it("a shutdown with nothing running leaves at once; children are stopped by a shutdown", () => {
    expect(machine().send({ type: "shutdown", reason: "idle", timeoutMs: 1_000 })).toMatchObject([
      { type: "leave", exit: "OK", reason: "asked to shut down (idle)", announce: null },
    ]);
    const m = machine();
    m.send({ type: "work", id: 7, kind: "child", timeoutMs: null });
    expect(m.types(m.send({ type: "shutdown", reason: "stop", timeoutMs: 5_000 }))).toEqual([
      "abort:7",
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 7 }))).toEqual(["report:7", "leave"]);
  });

  it("single use: one task, then it announces single_use and leaves; a second is refused", () => {
    const m = machine({ singleUse: true });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.types(m.send({ type: "work", id: 2, kind: "cast", timeoutMs: null }))).toEqual([
      "refuse:2",
    ]);
    expect(m.send({ type: "taskEnded", id: 1 })).toMatchObject([
      { type: "report" },
      { type: "leave", exit: "OK", announce: "single_use" },
    ]);
  });

  it("idle: leaves after idleShutdownAfterMs with no task, re-armed by each task", () => {
    const m = machine({ idleShutdownAfterMs: 1_000 });
    m.advanceTo(900);
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.types(m.advanceTo(5_000))).toEqual([]);
    m.send({ type: "taskEnded", id: 1 });
    expect(m.advanceTo(6_000)).toMatchObject([{ type: "leave", announce: "idle" }]);
    // Once leaving, nothing more happens.
    expect(m.send({ type: "work", id: 2, kind: "call", timeoutMs: null })).toEqual([]);
  });

  it("a lost link leaves with LINK_LOST; SIGTERM leaves OK announcing `terminated`", () => {
    expect(machine().send({ type: "linkLost", reason: "closed" })).toMatchObject([
      { type: "leave", exit: "LINK_LOST", reason: "parent link lost: closed" },
    ]);
    expect(machine().send({ type: "stop", reason: "stopped by SIGTERM" })).toMatchObject([
      { type: "leave", exit: "OK", announce: "terminated" },
    ]);
  });

  it("a duplicate id is reported without touching the running task", () => {
    const m = machine();
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.send({ type: "work", id: 1, kind: "call", timeoutMs: null })).toEqual([
      {
        type: "duplicate",
        id: 1,
        message: "call id 1 is already running; ids must be unique per link",
      },
    ]);
    expect(m.state.tasks.size).toBe(1);
  });
});

describe("agent lifecycle with tracked values", () => {
  it("a call whose answer keeps tracked values holds the runner past its idle bound until every value is released", () => {
    const m = machine({ idleShutdownAfterMs: 1_000 });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.send({ type: "taskEnded", id: 1, tracked: [0, 1] })).toEqual([
      { type: "report", id: 1, how: "outcome" },
    ]);
    expect(m.types(m.advanceTo(60_000))).toEqual([]);
    expect(nextDeadline(m.state)).toBeNull();
    m.send({ type: "released", id: 1, index: 0 });
    // A repeated or unknown release changes nothing.
    m.send({ type: "released", id: 1, index: 0 });
    m.send({ type: "released", id: 9, index: 0 });
    expect(m.types(m.advanceTo(120_000))).toEqual([]);
    m.send({ type: "released", id: 1, index: 1 });
    expect(nextDeadline(m.state)).toBe(121_000);
    expect(m.advanceTo(121_000)).toMatchObject([{ type: "leave", announce: "idle" }]);
  });

  it("a call pinned to a held group runs; pinned to one not held (released, lost, never made) it is refused RESOURCE_GONE", () => {
    const m = machine();
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    m.send({ type: "taskEnded", id: 1, tracked: [0] });
    expect(m.types(m.send({ type: "work", id: 2, kind: "call", timeoutMs: null, on: 1 }))).toEqual([
      "run:2",
    ]);
    expect(m.send({ type: "work", id: 3, kind: "call", timeoutMs: null, on: 7 })).toMatchObject([
      { type: "refuse", id: 3, error: { code: "RESOURCE_GONE" } },
    ]);
    m.send({ type: "released", id: 1, index: 0 });
    expect(m.send({ type: "work", id: 4, kind: "call", timeoutMs: null, on: 1 })).toMatchObject([
      { type: "refuse", id: 4, error: { code: "RESOURCE_GONE" } },
    ]);
  });

  it("an answer the parent never sees (answered early) has its tracked values discarded, not held", () => {
    const m = machine({ idleShutdownAfterMs: 1_000 });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: 100 });
    m.advanceTo(100);
    expect(m.send({ type: "taskEnded", id: 1, tracked: [0] })).toEqual([
      { type: "discard", id: 1 },
      { type: "report", id: 1, how: "ended" },
    ]);
    expect(m.state.held.size).toBe(0);
    expect(m.send({ type: "work", id: 2, kind: "call", timeoutMs: null, on: 1 })).toMatchObject([
      { type: "refuse", error: { code: "RESOURCE_GONE" } },
    ]);
  });

  it("single use: the runner stays while its one call's values are held, serves calls pinned to them, and leaves once they are released", () => {
    const m = machine({ singleUse: true });
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    expect(m.types(m.send({ type: "taskEnded", id: 1, tracked: [0] }))).toEqual(["report:1"]);
    expect(m.types(m.send({ type: "work", id: 2, kind: "call", timeoutMs: null }))).toEqual([
      "refuse:2",
    ]);
    expect(m.types(m.send({ type: "work", id: 3, kind: "call", timeoutMs: null, on: 1 }))).toEqual([
      "run:3",
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 3 }))).toEqual(["report:3"]);
    expect(m.send({ type: "released", id: 1, index: 0 })).toMatchObject([
      { type: "leave", exit: "OK", announce: "single_use" },
    ]);
  });

  it("a shutdown does not wait for held values: the runner leaves (and disposes them on its way out)", () => {
    const m = machine();
    m.send({ type: "work", id: 1, kind: "call", timeoutMs: null });
    m.send({ type: "taskEnded", id: 1, tracked: [0] });
    expect(m.send({ type: "shutdown", reason: "stop", timeoutMs: 1_000 })).toMatchObject([
      { type: "leave", exit: "OK" },
    ]);
  });
});
