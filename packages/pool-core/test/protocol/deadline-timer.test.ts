/**
 * The one real timer of a machine whose deadlines are data (the pool's core, the runner's
 * lifecycle machine): it ticks when the next deadline is due, never before, and sets a timer
 * again only when a deadline comes earlier than the armed one (issue 23: a timer per call).
 */
import { describe, expect, it } from "vitest";
import { DeadlineTimer } from "../../src/protocol/deadline-timer.js";
import { VirtualClock } from "../host/fakes.js";

/** A machine whose deadlines the test sets; `ticks` records when each tick came. */
function machine() {
  const clock = new VirtualClock();
  const deadlines = new Set<number>();
  const ticks: number[] = [];
  const next = () => (deadlines.size === 0 ? null : Math.min(...deadlines));
  const timer = new DeadlineTimer(clock, next, () => {
    const now = clock.nowMs();
    ticks.push(now);
    for (const at of deadlines) if (at <= now) deadlines.delete(at);
    timer.update();
  });
  const add = (inMs: number) => {
    const at = clock.nowMs() + inMs;
    deadlines.add(at);
    timer.update();
    return at;
  };
  const remove = (at: number) => {
    deadlines.delete(at);
    timer.update();
  };
  return { clock, timer, ticks, add, remove, start: clock.nowMs() };
}

describe("DeadlineTimer", () => {
  it("ticks when the next deadline is due, in order, and not before", async () => {
    const m = machine();
    m.add(300);
    m.add(100);
    await m.clock.advance(99);
    expect(m.ticks).toEqual([]);
    await m.clock.advance(1);
    expect(m.ticks).toEqual([m.start + 100]);
    await m.clock.advance(500);
    expect(m.ticks).toEqual([m.start + 100, m.start + 300]);
  });

  it("a deadline that moved later does not tick at its old time, but at its new one", async () => {
    const m = machine();
    const first = m.add(100);
    m.add(1_000);
    m.remove(first);
    await m.clock.advance(999);
    expect(m.ticks).toEqual([]);
    await m.clock.advance(1);
    expect(m.ticks).toEqual([m.start + 1_000]);
  });

  it("a deadline earlier than the armed one ticks at its own time", async () => {
    const m = machine();
    m.add(1_000);
    m.add(50);
    await m.clock.advance(50);
    expect(m.ticks).toEqual([m.start + 50]);
  });

  it("calls that each add a 30 s deadline and take it away set a timer once, not per call", async () => {
    const m = machine();
    for (let call = 0; call < 1_000; call += 1) {
      const due = m.add(30_000);
      await m.clock.advance(1);
      m.remove(due);
    }
    // Eagerly re-armed, each call set a timer (and cleared one): 1,000 here.
    expect(m.clock.timersSet).toBe(1);
    await m.clock.advance(60_000);
    expect(m.ticks).toEqual([]);
  });

  it("after close it never ticks", async () => {
    const m = machine();
    m.add(100);
    m.timer.close();
    m.add(10);
    await m.clock.advance(1_000);
    expect(m.ticks).toEqual([]);
  });
});
