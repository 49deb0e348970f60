/** The runner table's and the pool summary's texts: slots, calls queued on runners, tracked values. */
import { describe, expect, it } from "vitest";
import { poolLoad, slotsNote, slotsText, trackedText } from "../lib/pool-view.js";
import { runner } from "./view-fixtures.js";

describe("runner table", () => {
  it("shows each runner's tracked resources: holders and pinned calls", () => {
    expect(trackedText(runner("r1"))).toBe("—");
    expect(trackedText({ ...runner("r1"), tracked: 2 })).toBe("2 held");
    expect(trackedText({ ...runner("r1"), tracked: 1, pinned: 3 })).toBe("1 held · 3 pinned");
    // A pool from before tracked resources reports neither.
    expect(trackedText({})).toBe("—");
  });

  it("shows the calls a runner holds queued beside those running, and nothing more for none", () => {
    // A pool at max under load: both slots busy and two calls held on the runner (prefetch).
    expect(slotsText({ ...runner("r1"), inflight: 2, queued: 2 }, 2)).toBe("2/2 · 2 queued");
    expect(slotsText({ ...runner("r1"), inflight: 1, queued: 1 }, 1)).toBe("1/1 · 1 queued");
    // None queued: the slots alone, as before prefetch.
    expect(slotsText({ ...runner("r1"), inflight: 2 }, 2)).toBe("2/2");
    expect(slotsText(runner("r1"), 2)).toBe("0/2");
    // A pool from before prefetch (protocol 9) reports no queued.
    expect(slotsText({ inflight: 1 }, 2)).toBe("1/2");
  });
});

describe("pool summary", () => {
  it("sums calls queued on runners apart from the slots in use, which count running calls only", () => {
    const atMax = poolLoad({
      maxConcurrency: 2,
      runners: [
        { ...runner("r1"), inflight: 2, queued: 2 },
        { ...runner("r2"), inflight: 2, queued: 1 },
        { ...runner("r3"), state: "booting" },
      ],
    });
    expect(atMax).toEqual({ ready: 2, running: 4, capacity: 4, queued: 3 });
    expect(slotsNote(atMax)).toBe("of 4 · 3 queued on runners");

    const idle = poolLoad({
      maxConcurrency: 2,
      runners: [{ ...runner("r1"), inflight: 1 }, runner("r2")],
    });
    expect(idle).toEqual({ ready: 2, running: 1, capacity: 4, queued: 0 });
    expect(slotsNote(idle)).toBe("of 4");
    // A pool from before prefetch reports no queued.
    expect(poolLoad({ maxConcurrency: 1, runners: [{ state: "ready", inflight: 1 }] })).toEqual({
      ready: 1,
      running: 1,
      capacity: 1,
      queued: 0,
    });
  });
});
