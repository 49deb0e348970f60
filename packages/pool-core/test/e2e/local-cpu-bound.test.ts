/**
 * Issue 11 on LocalBackend: runners run functions on worker threads, so CPU-bound work uses
 * every core, never blocks the link, stops at its deadline, and fails only its own call.
 * Each test is one row of "what a user saw" (all failed on the one-event-loop runner).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PoolEvent } from "../../src/index.js";
import {
  overrun,
  rendezvous,
  spin,
  spinForever,
  throwLater,
  ticker,
  whereAmI,
} from "../fixtures/cpu-functions.mjs";
import { codeOf, localPool } from "./helpers.js";

const cpuEntry = new URL("../fixtures/cpu-functions.mjs", import.meta.url);

function cpuPool(options: Parameters<typeof localPool>[0] = {}) {
  return localPool({ entry: cpuEntry, max: 1, ...options });
}

describe("LocalBackend pool: CPU-bound functions on worker threads", () => {
  it("a synchronous function that computes for 4 s with timeout 30 s succeeds", async () => {
    const pool = cpuPool({ timeout: 30_000 });
    const ran = await pool.call(spin, { ms: 4_000 });
    expect(ran.endedAtMs - ran.startedAtMs).toBeGreaterThanOrEqual(4_000);
  }, 60_000);

  it("four 2 s CPU calls on one runner with maxConcurrency 4 all succeed", async () => {
    const pool = cpuPool({ maxConcurrency: 4 });
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map(() => codeOf(pool.call(spin, { ms: 2_000 }))),
    );
    expect(outcomes).toEqual(["ok", "ok", "ok", "ok"]);
  }, 60_000);

  it("maxConcurrency 2 runs two blocking CPU calls at once on two threads of one runner", async () => {
    const pool = cpuPool({ maxConcurrency: 2 });
    const dir = mkdtempSync(join(tmpdir(), "flame-meet-"));
    const peers = ["a", "b"];
    // Each spins until it sees the other: only possible when both run at the same time.
    const [a, b] = await Promise.all(
      peers.map((name) => pool.call(rendezvous, { dir, name, peers, boundMs: 20_000 })),
    );
    expect(a!.pid).toBe(b!.pid);
    expect(a!.threadId).not.toBe(b!.threadId);
  }, 60_000);

  it("an endless loop with timeout 1000 gets TIMEOUT; its thread is terminated and replaced", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "flame-spin-")), "beats");
    const pool = cpuPool({ min: 1, execution: { terminateGraceMs: 200 } });
    await pool.start();
    const runnerId = pool.snapshot().runners[0]!.id;
    const error = await pool.call(spinForever, { log }, { timeout: 1_000 }).catch((e) => e);
    expect(error).toMatchObject({ code: "TIMEOUT" });
    // The slot frees only once the work really stopped (its thread was terminated).
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 0, {
        timeout: 10_000,
        message: "the slot to free",
      })
      .toBe(true);
    const size = statSync(log).size;
    expect(size).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statSync(log).size).toBe(size); // nothing runs any more
    // Same runner, a fresh thread.
    expect(await pool.call(whereAmI, null)).toMatchObject({ pid: expect.any(Number) });
    expect(pool.snapshot().runners.map((r) => r.id)).toEqual([runnerId]);
  }, 60_000);

  it("an error thrown from a timer inside one call fails that call only; the runner carries on", async () => {
    const pool = cpuPool({ maxConcurrency: 2 });
    await pool.start();
    const pid = (await pool.call(whereAmI, null)).pid;
    const alongside = pool.call(spin, { ms: 800 });
    const error = await pool.call(throwLater, { message: "timer blew up" }).catch((e) => e);
    expect(error).toMatchObject({ code: "REMOTE_ERROR", remote: { message: "timer blew up" } });
    expect(error.remote.stack).toContain("timer blew up");
    expect((await alongside).pid).toBe(pid);
    expect((await pool.call(whereAmI, null)).pid).toBe(pid);
  }, 60_000);

  it("the parent's event loop busy for 4 s loses no runner and no call", async () => {
    const pool = cpuPool({ maxConcurrency: 2 });
    const events: PoolEvent[] = [];
    pool.events.subscribe((e) => events.push(e));
    await pool.start();
    const inFlight = pool.call(spin, { ms: 1_500 });
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 1, {
        timeout: 5_000,
        message: "the call to start",
      })
      .toBe(true);
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      // A GC pause or a big synchronous decode, as the parent sees it.
    }
    expect((await inFlight).pid).toBeGreaterThan(0);
    expect(await codeOf(pool.call(whereAmI, null))).toBe("ok");
    expect(events.filter((e) => e.type === "runnerDown")).toEqual([]);
  }, 60_000);

  it("during a storm of timeouts no more than maxConcurrency functions ever run on the runner", async () => {
    // A function ends by itself here, never by its thread being terminated: a terminated one
    // leaves its marker behind and every later count includes it. With the default 1 s grace a
    // 600 ms function outlived deadline + grace at load 14 (a whole-suite run under load counted
    // 3: the stale marker + 2 really running). The slots the backstop holds are what is tested.
    const pool = cpuPool({ maxConcurrency: 2, execution: { terminateGraceMs: 60_000 } });
    const dir = mkdtempSync(join(tmpdir(), "flame-storm-"));
    mkdirSync(join(dir, "running"));
    let maxInflight = 0;
    pool.events.subscribe(() => {
      for (const r of pool.snapshot().runners) maxInflight = Math.max(maxInflight, r.inflight);
    });
    // Each ignores its signal and runs 600 ms; each caller gives up after 150 ms.
    const storm = Array.from({ length: 8 }, () =>
      codeOf(pool.call(overrun, { dir, ms: 600 }, { timeout: 150 })),
    );
    const codes = await Promise.all(storm);
    expect(codes).toContain("TIMEOUT");
    await expect
      .poll(() => pool.snapshot().runners.every((r) => r.inflight === 0), {
        timeout: 20_000,
        message: "idle",
      })
      .toBe(true);
    const seen = readFileSync(join(dir, "counts"), "utf8").trim().split("\n").map(Number);
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    expect(readdirSync(join(dir, "running")), "every function ended by itself").toEqual([]);
    expect(maxInflight).toBeLessThanOrEqual(2);
  }, 90_000);

  it("a placed child on a thread lives until it is stopped", async () => {
    const pool = cpuPool({ maxConcurrency: 2 });
    const child = await pool.placeChild(ticker, null);
    // Work on the other thread goes on beside it.
    expect(await codeOf(pool.call(spin, { ms: 300 }))).toBe("ok");
    await child.stop();
    const ended = await child.result;
    expect(ended).toMatchObject({ stopped: true, code: "ABORTED" });
    expect(ended.livedMs).toBeGreaterThanOrEqual(300);
  }, 60_000);
});
