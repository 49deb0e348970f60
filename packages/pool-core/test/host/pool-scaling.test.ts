/**
 * The Pool host on virtual time against an in-memory link and backend: no processes, no
 * sockets, no real timers. Each test drives time with `clock.advance` and asserts what a
 * user would see (results, error codes, events, snapshots). Here: resize, idle shutdown,
 * boot retries and the growth hooks.
 */
import { describe, expect, it } from "vitest";
import { ControlledCalls, flush } from "./fakes.js";
import { echo, outcome, useVirtualPools } from "./virtual-pool.js";

const setup = useVirtualPools("echo");

describe("scaling", () => {
  it("resize boots up to the new min and drains surplus idle runners", async () => {
    const { pool, world, clock, events } = setup({ max: 3 });
    await pool.start();
    pool.resize({ min: 2, max: 3 });
    await flush();
    expect(pool.snapshot().runners.map((r) => r.state)).toEqual(["booting", "booting"]);
    expect(pool.snapshot().runners[0]?.meta).toEqual({ fake: "0" });
    await clock.advance(100);
    expect(pool.snapshot().runners.map((r) => [r.state, r.isMin])).toEqual([
      ["ready", true],
      ["ready", true],
    ]);
    pool.resize({ min: 0, max: 1 });
    await flush();
    expect(world.runners.map((r) => r.conn?.shutdownReason)).toContain("resize");
    expect(events.filter((e) => e.type === "resize")).toMatchObject([
      { min: 2, max: 3 },
      { min: 0, max: 1 },
    ]);
    expect(() => pool.resize({ min: 2, max: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field: "min" }),
    );
  });

  it("a min runner is exempt from idle shutdown", async () => {
    const { pool, world, clock, events } = setup({ min: 1, max: 2, idleShutdownAfter: 5_000 });
    const started = outcome(pool.start());
    await clock.advance(100);
    expect(started.current).toBeUndefined();
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    const a = outcome(pool.call(echo, 1));
    await flush();
    expect(world.runners).toHaveLength(1);
    calls.pending[0]?.resolve("a");
    await flush();
    expect(a.current).toBe("a");
    await clock.advance(60_000);
    expect(world.runners[0]?.conn?.shutdownReason).toBeNull();
    expect(events.some((e) => e.type === "shrink")).toBe(false);
  });

  it("a non-min idle runner drains after idleShutdownAfter, asking the idle check first", async () => {
    const checked: string[] = [];
    let answer = false;
    const { pool, world, clock } = setup({
      idleShutdownAfter: {
        afterMs: 5_000,
        check: ({ runnerId }) => {
          checked.push(runnerId);
          return answer;
        },
      },
    });
    const r = outcome(pool.call(echo, 1));
    await clock.advance(100);
    expect(r.current).toBe(1);
    await clock.advance(5_000);
    expect(checked).toHaveLength(1);
    expect(world.runners[0]?.conn?.shutdownReason).toBeNull();
    answer = true;
    await clock.advance(5_000);
    expect(checked).toHaveLength(2);
    expect(world.runners[0]?.conn?.shutdownReason).toBe("idle");
  });

  it("a failed boot is reported and retried while a caller waits", async () => {
    const { pool, world, clock, events } = setup();
    world.failNext = 1;
    const result = outcome(pool.call(echo, "x"));
    await clock.advance(10);
    expect(events.find((e) => e.type === "bootFailed")).toMatchObject({
      error: expect.stringContaining("no capacity"),
    });
    await clock.advance(1_000 + 100);
    expect(result.current).toBe("x");
  });

  it("hooks see growth and shrink with the runner count", async () => {
    const seen: string[] = [];
    const { pool, world, clock } = setup({
      onGrowStart: ({ count }) => seen.push(`start:${count}`),
      onGrowEnd: (result, { count }) => seen.push(`end:${result.ok}:${count}`),
      onShrink: ({ count }) => seen.push(`shrink:${count}`),
    });
    outcome(pool.call(echo, 1));
    await clock.advance(100);
    world.runners[0]?.crash();
    await flush();
    expect(seen).toEqual(["start:1", "end:true:1", "shrink:0"]);
  });
});
