/**
 * Prefetch through real runners (issue 23): at `max` with every slot busy, a call is sent on to
 * a busy runner, which holds it queued and starts it when a slot frees; when a slot frees on
 * another runner first, the pool takes it back and runs it there.
 */
import { describe, expect, it } from "vitest";
import type { Pool, PoolSnapshot } from "../../src/index.js";
import { waitForAbort, whoami } from "../fixtures/functions.mjs";
import { codeOf, localPool } from "./helpers.js";

/** Resolves once `holds` is true of the pool's snapshot, checked now and after every event. */
function whenSnapshot(pool: Pool, holds: (s: PoolSnapshot) => boolean): Promise<PoolSnapshot> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const snapshot = pool.snapshot();
      if (!holds(snapshot)) return false;
      resolve(snapshot);
      return true;
    };
    if (check()) return;
    const unsubscribe = pool.events.subscribe(() => {
      if (check()) unsubscribe();
    });
  });
}

const runningOn = (s: PoolSnapshot): string[] =>
  s.runners.filter((r) => r.inflight > 0).map((r) => r.id);

/** A call that runs until its caller aborts it. */
function blocking(pool: Pool, tag: string): { done: Promise<string>; abort: () => void } {
  const controller = new AbortController();
  const done = codeOf(pool.call(waitForAbort, { tag }, { signal: controller.signal }));
  return { done, abort: () => controller.abort() };
}

describe("prefetch (issue 23)", () => {
  it("a call that finds every slot busy at max waits queued on a runner, not in the pool", async () => {
    const pool = localPool({ min: 1, max: 1, maxConcurrency: 1 });
    await pool.start();
    const first = blocking(pool, "first");
    await whenSnapshot(pool, (s) => runningOn(s).length === 1);
    const second = pool.call(whoami, null);
    const seen = await whenSnapshot(pool, (s) => s.runners[0]?.queued === 1);
    expect(seen).toMatchObject({ waiting: 0, runners: [{ inflight: 1, queued: 1 }] });
    first.abort();
    expect(await first.done).toBe("ABORTED");
    expect((await second).runnerId).toBe(seen.runners[0]?.id);
  });

  it("a runner of 2 threads holds 2 calls queued, one for each thread (its hello says 2)", async () => {
    const pool = localPool({
      min: 1,
      max: 1,
      maxConcurrency: 2,
      execution: { mode: "threads", threads: 2 },
    });
    await pool.start();
    const running = [blocking(pool, "a"), blocking(pool, "b")];
    await whenSnapshot(pool, (s) => s.runners[0]?.inflight === 2);
    const queued = [pool.call(whoami, null), pool.call(whoami, null), pool.call(whoami, null)];
    const seen = await whenSnapshot(pool, (s) => s.runners[0]?.queued === 2 && s.waiting === 1);
    expect(seen.runners[0]).toMatchObject({ inflight: 2, queued: 2 });
    for (const call of running) call.abort();
    expect((await Promise.all(queued)).map((r) => r.runnerId)).toEqual(
      Array(3).fill(seen.runners[0]?.id),
    );
  });

  it("with prefetch: false the caller waits in the pool", async () => {
    const pool = localPool({ min: 1, max: 1, maxConcurrency: 1, prefetch: false });
    await pool.start();
    const first = blocking(pool, "first");
    await whenSnapshot(pool, (s) => runningOn(s).length === 1);
    const second = pool.call(whoami, null);
    const seen = await whenSnapshot(pool, (s) => s.waiting === 1);
    expect(seen.runners[0]).toMatchObject({ inflight: 1, queued: 0 });
    first.abort();
    await second;
  });

  it("a queued call's timeout counts while it waits on the runner", async () => {
    const pool = localPool({ min: 1, max: 1, maxConcurrency: 1 });
    await pool.start();
    const first = blocking(pool, "first");
    await whenSnapshot(pool, (s) => runningOn(s).length === 1);
    const second = pool.call(whoami, null, { timeout: 300 });
    await whenSnapshot(pool, (s) => s.runners[0]?.queued === 1);
    const error = await second.then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe("TIMEOUT");
    expect(error?.message).toMatch(/queued/);
    first.abort();
    await first.done;
  });

  it("is taken back and run elsewhere when another runner frees a slot first", async () => {
    const pool = localPool({ min: 2, max: 2, maxConcurrency: 1 });
    await pool.start();
    await whenSnapshot(pool, (s) => s.runners.filter((r) => r.state === "ready").length === 2);
    const a = blocking(pool, "a");
    const [aRunner] = runningOn(await whenSnapshot(pool, (s) => runningOn(s).length === 1));
    const b = blocking(pool, "b");
    await whenSnapshot(pool, (s) => runningOn(s).length === 2);
    const queuedCall = pool.call(whoami, null);
    const seen = await whenSnapshot(pool, (s) => s.runners.some((r) => r.queued === 1));
    const heldBy = seen.runners.find((r) => r.queued === 1)?.id;
    // Free the slot of the runner that does NOT hold the queued call.
    const other = heldBy === aRunner ? b : a;
    const stillBlocked = heldBy === aRunner ? a : b;
    other.abort();
    const result = await queuedCall;
    expect(result.runnerId).not.toBe(heldBy);
    // It ran while the call it had been queued behind still runs.
    expect(runningOn(pool.snapshot())).toEqual([heldBy]);
    stillBlocked.abort();
    expect([await a.done, await b.done]).toEqual(["ABORTED", "ABORTED"]);
  });
});
