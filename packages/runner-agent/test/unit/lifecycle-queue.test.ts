/**
 * The agent's lifecycle machine on virtual time: its slots, and the calls queued beyond them
 * (protocol 9's prefetch): start order, `unqueue`, deadlines and cancels of queued calls, drain,
 * and calls a thread started on its own.
 */
import { describe, expect, it } from "vitest";
import type { AgentEvent } from "../../src/lifecycle/agent-state.js";
import { nextDeadline, step } from "../../src/lifecycle/machine.js";
import { machine } from "./lifecycle-machine.js";

describe("agent lifecycle: slots and the queue beyond them (protocol 9)", () => {
  const call = (id: number, timeoutMs: number | null = null, on?: number): AgentEvent => ({
    type: "work",
    id,
    kind: "call",
    timeoutMs,
    ...(on === undefined ? {} : { on }),
  });

  it("a call that finds every slot in use waits queued, and starts in the step that frees a slot", () => {
    const m = machine({ slots: 1 });
    expect(m.types(m.send(call(1)))).toEqual(["run:1"]);
    expect(m.types(m.send(call(2)))).toEqual(["queued:2"]);
    expect(m.types(m.advanceTo(60_000))).toEqual([]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:2"]);
    expect(m.types(m.send({ type: "taskEnded", id: 2 }))).toEqual(["report:2"]);
  });

  it("queued calls start oldest first, one per freed slot", () => {
    const m = machine({ slots: 2 });
    expect(m.types([1, 2, 3, 4, 5].flatMap((id) => m.send(call(id))))).toEqual([
      "run:1",
      "run:2",
      "queued:3",
      "queued:4",
      "queued:5",
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 2 }))).toEqual(["report:2", "run:3"]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:4"]);
    expect(m.types(m.send({ type: "taskEnded", id: 4 }))).toEqual(["report:4", "run:5"]);
    expect(m.types(m.send({ type: "taskEnded", id: 3 }))).toEqual(["report:3"]);
  });

  it("unqueue takes a queued call back: `unqueued`, it never runs, and its id is free again", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    m.send(call(3));
    expect(m.send({ type: "unqueue", id: 2 })).toEqual([{ type: "unqueued", id: 2 }]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:3"]);
    expect(m.types(m.send({ type: "taskEnded", id: 3 }))).toEqual(["report:3"]);
    // Forgotten entirely: the id may come again as a new request.
    expect(m.types(m.send(call(2)))).toEqual(["run:2"]);
  });

  it("unqueue of a call that started, or of one that is over or unknown, changes nothing", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    expect(m.send({ type: "unqueue", id: 1 })).toEqual([
      { type: "unqueueIgnored", id: 1, why: "it already started; its answer follows" },
    ]);
    expect(m.state.tasks.has(1)).toBe(true);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
    expect(m.types(m.send({ type: "unqueue", id: 1 }))).toEqual(["unqueueIgnored:1"]);
    expect(m.types(m.send({ type: "unqueue", id: 9 }))).toEqual(["unqueueIgnored:9"]);
  });

  it("a queued call past its deadline is answered TIMEOUT and never runs; a deadline counts from receipt", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    expect(m.types(m.send(call(2, 100)))).toEqual(["queued:2"]);
    expect(m.types(m.send(call(3, 300)))).toEqual(["queued:3"]);
    expect(nextDeadline(m.state)).toBe(100);
    const atDeadline = m.advanceTo(100);
    expect(atDeadline).toEqual([
      {
        type: "refuse",
        id: 2,
        kind: "call",
        error: {
          code: "TIMEOUT",
          name: "FlameError",
          message:
            "did not finish by its deadline: it waited queued for a free slot and never started",
        },
      },
    ]);
    m.advanceTo(250);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:3"]);
    // Call 3 came at 0 with 300 ms: it has 50 ms left to run, not 300.
    expect(nextDeadline(m.state)).toBe(300);
    expect(m.types(m.advanceTo(300))).toEqual(["answeredEarly:3", "abort:3"]);
  });

  it("a queued call whose deadline passes in the step that frees its slot is answered TIMEOUT, not run", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2, 100));
    m.send(call(3));
    // The task ends at the very instant of the deadline, before the tick for it.
    m.advanceTo(99);
    const ended = step(m.state, { type: "taskEnded", id: 1 }, 100).effects;
    expect(m.types([...ended])).toEqual(["report:1", "refuse:2", "run:3"]);
    expect(ended[1]).toMatchObject({ error: { code: "TIMEOUT" } });
  });

  it("a cancel of a queued call answers ABORTED at once; it never runs", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    expect(m.send({ type: "cancel", id: 2 })).toEqual([
      {
        type: "refuse",
        id: 2,
        kind: "call",
        error: {
          code: "ABORTED",
          name: "FlameError",
          message: "cancelled by the caller before it started",
        },
      },
    ]);
    expect(m.types(m.send({ type: "cancel", id: 2 }))).toEqual([]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
  });

  it("a call answered early keeps its slot until `ended`: the queued one waits for that", () => {
    const m = machine({ slots: 1, terminateGraceMs: 500 });
    m.send(call(1, 100));
    m.send(call(2));
    expect(m.types(m.advanceTo(100))).toEqual(["answeredEarly:1", "abort:1"]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:2"]);
  });

  it("a stopped queued child answers ABORTED without starting", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    expect(m.types(m.send({ type: "work", id: 2, kind: "child", timeoutMs: null }))).toEqual([
      "queued:2",
    ]);
    expect(m.send({ type: "stopChild", id: 2 })).toMatchObject([
      { type: "refuse", id: 2, kind: "child", error: { code: "ABORTED" } },
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
  });

  it("pinned calls never queue and take no slot", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send({ type: "taskEnded", id: 1, tracked: [0] });
    // Call 1 holds its values, and so the one slot: a pinned call runs all the same.
    expect(m.types(m.send(call(2, null, 1)))).toEqual(["run:2"]);
    expect(m.types(m.send(call(3, null, 1)))).toEqual(["run:3"]);
    expect(m.types(m.send(call(4)))).toEqual(["queued:4"]);
    // Pinned calls ending free no slot: call 4 still waits.
    expect(m.types(m.send({ type: "taskEnded", id: 2 }))).toEqual(["report:2"]);
    expect(m.types(m.send({ type: "taskEnded", id: 3, tracked: [0] }))).toEqual(["report:3"]);
    // What a pinned call tracked never held a slot: letting it go starts nothing.
    expect(m.types(m.send({ type: "released", id: 3, index: 0 }))).toEqual([]);
    expect(m.types(m.send({ type: "released", id: 1, index: 0 }))).toEqual(["run:4"]);
  });

  it("a call whose answer kept tracked values holds its slot until the last one is released", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    expect(m.types(m.send({ type: "taskEnded", id: 1, tracked: [0, 1] }))).toEqual(["report:1"]);
    expect(m.types(m.send(call(2)))).toEqual(["queued:2"]);
    expect(m.types(m.send({ type: "released", id: 1, index: 0 }))).toEqual([]);
    expect(m.types(m.send({ type: "released", id: 1, index: 1 }))).toEqual(["run:2"]);
    // Values discarded with an early answer hold nothing.
    m.send({ type: "taskEnded", id: 2 });
    m.send(call(3, 100));
    m.send(call(4));
    m.advanceTo(100);
    expect(m.types(m.send({ type: "taskEnded", id: 3, tracked: [0] }))).toEqual([
      "discard:3",
      "report:3",
      "run:4",
    ]);
  });

  it("a duplicate of a queued id is reported and keeps the queued call", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    expect(m.send(call(2))).toEqual([
      {
        type: "duplicate",
        id: 2,
        message: "call id 2 is already queued; ids must be unique per link",
      },
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:2"]);
  });

  it("drain: queued calls start as slots free within the bound; what still waits at the bound is answered RUNNER_DOWN", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    m.send(call(3));
    m.send({ type: "work", id: 4, kind: "child", timeoutMs: null });
    // A queued child is answered as stopped at once (a running one is aborted).
    expect(m.send({ type: "shutdown", reason: "stop", timeoutMs: 300 })).toMatchObject([
      { type: "refuse", id: 4, kind: "child", error: { code: "ABORTED" } },
    ]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1", "run:2"]);
    const bound = m.advanceTo(300);
    expect(m.types(bound)).toEqual(["refuse:3", "answeredEarly:2", "leave"]);
    expect(bound[0]).toMatchObject({
      kind: "call",
      error: { code: "RUNNER_DOWN", message: expect.stringContaining("before the call started") },
    });
  });

  it("drain: once nothing runs, calls queued behind held values are answered RUNNER_DOWN and it leaves", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send({ type: "taskEnded", id: 1, tracked: [0] });
    m.send(call(2));
    const effects = m.send({ type: "shutdown", reason: "stop", timeoutMs: 300 });
    expect(m.types(effects)).toEqual(["refuse:2", "leave"]);
    expect(effects[0]).toMatchObject({ error: { code: "RUNNER_DOWN" } });
  });

  it("a call a thread started on its own (`started`) runs with no `run`; the slot it took stays counted until the ended task's answer", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    m.send(call(3));
    // The thread of call 1 took call 2 as 1 ended; the machine hears of that first.
    expect(m.types(m.send({ type: "started", id: 2 }))).toEqual(["claimed:2"]);
    // Call 1's end frees the slot call 2 already took: call 3 keeps waiting.
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
    // Call 2 is running now: an unqueue comes too late, a cancel aborts it.
    expect(m.types(m.send({ type: "unqueue", id: 2 }))).toEqual(["unqueueIgnored:2"]);
    expect(m.types(m.send({ type: "cancel", id: 2 }))).toEqual(["abort:2"]);
    expect(m.types(m.send({ type: "taskEnded", id: 2 }))).toEqual(["report:2", "run:3"]);
    // A second `started`, or one for a call not queued, changes nothing.
    expect(m.types(m.send({ type: "started", id: 2 }))).toEqual([]);
    expect(m.types(m.send({ type: "started", id: 3 }))).toEqual([]);
  });

  it("a queued call that ends before the machine heard it started is reported once and never run", () => {
    const m = machine({ slots: 1 });
    m.send(call(1));
    m.send(call(2));
    // Its thread took it as call 1 ended, then died running it: its end comes first.
    expect(m.types(m.send({ type: "taskEnded", id: 2 }))).toEqual(["claimed:2", "report:2"]);
    expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual(["report:1"]);
    expect(m.types(m.send(call(3)))).toEqual(["run:3"]);
  });

  it("a lost link or a stop leaves with queued calls never started", () => {
    for (const event of [
      { type: "linkLost", reason: "closed" },
      { type: "stop", reason: "stopped by SIGTERM" },
    ] as const) {
      const m = machine({ slots: 1 });
      m.send(call(1));
      expect(m.types(m.send(call(2)))).toEqual(["queued:2"]);
      expect(m.types(m.send(event))).toEqual(["leave"]);
      expect(m.types(m.send({ type: "taskEnded", id: 1 }))).toEqual([]);
    }
  });
});
