/** Issue 24: the runner's own view. `runnerInfo()` is null in the parent, the runner's facts in a runner. */
import { describe, expect, it } from "vitest";
import { parentId, runnerInfo } from "../../src/index.js";
import { viewFromRunner, wouldServeHttp } from "./fixtures/flame-semantics.mjs";
import { localPool } from "./helpers.js";

const entry = new URL("./fixtures/flame-semantics.mjs", import.meta.url);

describe("runnerInfo()", () => {
  it("is null in the parent", () => {
    expect(runnerInfo()).toBeNull();
  });

  it.each(["threads", "inline"] as const)(
    "names the pool, the runner, its backend and its parent inside a runner (%s)",
    async (mode) => {
      const pool = localPool({ name: "view", entry, execution: { mode } });
      const seen = await pool.call(viewFromRunner, null);
      expect(seen.info).toEqual({
        pool: "view",
        runnerId: seen.runnerId,
        backend: "local",
        parent: {
          id: parentId,
          url: expect.stringMatching(/^wss?:\/\/127\.0\.0\.1:\d+/),
          hostname: expect.any(String),
          pid: process.pid,
        },
      });
      expect(pool.snapshot().runners.map((r) => r.id)).toContain(seen.runnerId);
      // The single-image switch: the app serves HTTP, its runners do not.
      expect(await pool.call(wouldServeHttp, null)).toBe(false);
    },
  );

  it("ignores a value it cannot read (not written by a pool's host)", () => {
    expect(runnerInfo({ FLAME_RUNNER_INFO: "{not json" })).toBeNull();
    expect(runnerInfo({ FLAME_RUNNER_INFO: JSON.stringify({ pool: "p" }) })).toBeNull();
  });
});
