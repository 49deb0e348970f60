/**
 * Issue 14's rules on a real pool of runner-agent processes (LocalBackend): a missing entry
 * surfaced at once, maxWaiting, buffer, budget, drain, a bounded stop with a frozen runner,
 * and a TIMEOUT that names the last boot error. Each test is short; none sleeps to
 * synchronise (they wait for conditions).
 */
import { describe, expect, it } from "vitest";
import { type FlameError, isFlameError, LocalBackend, type PoolEvent } from "../../src/index.js";
import { echo, sleep, whoami } from "../fixtures/functions.mjs";
import { codeOf, fixtureEntry, isAlive, localPool } from "./helpers.js";

function record(pool: { events: { subscribe(l: (e: PoolEvent) => void): () => void } }) {
  const events: PoolEvent[] = [];
  pool.events.subscribe((e) => events.push(e));
  return events;
}

async function errorOf(promise: Promise<unknown>): Promise<FlameError> {
  try {
    await promise;
  } catch (error) {
    if (isFlameError(error)) return error;
    throw error;
  }
  throw new Error("expected a FlameError, the call succeeded");
}

describe("LocalBackend pool: issue 14 rules", () => {
  it("a missing entry fails the waiting caller at once with BOOT_FAILED naming it, and is not retried", async () => {
    const missing = "/nonexistent/flame-e2e/functions.mjs";
    const pool = localPool({ backend: new LocalBackend({ entry: missing }), max: 1 });
    const events = record(pool);
    const error = await errorOf(pool.call(echo, 1, { timeout: 60_000 }));
    expect(error.code).toBe("BOOT_FAILED");
    expect(error.permanent).toBe(true);
    expect(error.message).toContain(missing);
    expect(events.filter((e) => e.type === "growStart")).toHaveLength(1);
    expect(pool.snapshot()).toMatchObject({ pendingBoots: 0, waiting: 0 });
    // New demand tries again (the entry might have been fixed), and fails the same way.
    expect(await codeOf(pool.call(echo, 2, { timeout: 60_000 }))).toBe("BOOT_FAILED");
    expect(events.filter((e) => e.type === "growStart")).toHaveLength(2);
  });

  it("maxWaiting: one caller past it fails OVERLOADED at once", async () => {
    const pool = localPool({ min: 1, max: 1, maxConcurrency: 1, maxWaiting: 1 });
    await pool.start();
    const running = pool.call(sleep, { ms: 300, value: "a" });
    // Prefetch: the busy runner holds "b" queued; "c" waits in the pool, which maxWaiting counts.
    const queuedOnRunner = pool.call(echo, "b");
    const waiting = pool.call(echo, "c");
    const refused = await errorOf(pool.call(echo, "d"));
    expect(refused.code).toBe("OVERLOADED");
    expect(refused.message).toMatch(/maxWaiting 1/);
    expect(await Promise.all([running, queuedOnRunner, waiting])).toEqual(["a", "b", "c"]);
  });

  it("buffer: an idle runner is kept ready, and another boots when a caller takes it", async () => {
    const pool = localPool({ max: 2, maxConcurrency: 1, buffer: 1 });
    await pool.start();
    const ready = () => pool.snapshot().runners.filter((r) => r.state === "ready");
    await expect
      .poll(() => ready().length === 1, { timeout: 15_000, message: "the buffer runner" })
      .toBe(true);
    const running = pool.call(sleep, { ms: 200, value: 1 });
    await expect
      .poll(() => ready().length === 2, { timeout: 15_000, message: "a second buffer runner" })
      .toBe(true);
    expect(await running).toBe(1);
  });

  it("budget: once runner time is spent, a caller no runner can take fails BUDGET_EXHAUSTED", async () => {
    const pool = localPool({ max: 1, budget: { runnerMs: 1, windowMs: 600_000 } });
    const events = record(pool);
    const who = await pool.call(whoami, null);
    expect(pool.killRunner(who.runnerId)).toBe(true);
    await expect
      .poll(() => pool.snapshot().runners.length === 0, {
        timeout: 15_000,
        message: "the runner to go",
      })
      .toBe(true);
    const error = await errorOf(pool.call(echo, 1));
    expect(error.code).toBe("BUDGET_EXHAUSTED");
    expect(events.find((e) => e.type === "budgetBlocked")).toMatchObject({ budgetMs: 1 });
    expect(pool.snapshot().budget?.spentMs).toBeGreaterThan(1);
  });

  it("drain: new calls fail POOL_STOPPED at once, queued and running ones finish, then runners leave", async () => {
    const pool = localPool({ min: 1, max: 1, maxConcurrency: 1 });
    await pool.start();
    const running = pool.call(sleep, { ms: 300, value: "running" });
    const queued = pool.call(echo, "queued");
    const drained = pool.drain({ timeout: 30_000 });
    expect(await codeOf(pool.call(echo, "late"))).toBe("POOL_STOPPED");
    expect(await Promise.all([running, queued])).toEqual(["running", "queued"]);
    await drained;
    expect(pool.snapshot().runners).toEqual([]);
  });

  it("stop() is bounded: a frozen runner is killed after shutdownTimeout and reported", async () => {
    const pool = localPool({
      min: 1,
      max: 1,
      shutdownTimeout: 1_000,
      // The backend's own SIGTERM-then-SIGKILL step, short so the test is.
      backend: new LocalBackend({ entry: fixtureEntry, killAfterMs: 500 }),
    });
    const events = record(pool);
    await pool.start();
    const pid = Number(pool.snapshot().runners[0]?.meta.pid);
    expect(isAlive(pid)).toBe(true);
    process.kill(pid, "SIGSTOP"); // frozen: it can neither drain nor answer
    await pool.stop();
    expect(events.find((e) => e.type === "runnerKilled")).toMatchObject({ abandoned: false });
    await expect
      .poll(() => !isAlive(pid), { timeout: 15_000, message: "the frozen runner to be gone" })
      .toBe(true);
  });

  it("a boot that keeps missing bootTimeout ends in a TIMEOUT that names the boot error", async () => {
    const pool = localPool({ max: 1, bootTimeout: 1 });
    const error = await errorOf(pool.call(echo, 1, { timeout: 1_500 }));
    expect(error.code).toBe("TIMEOUT");
    expect(error.message).toMatch(/the last boot failed: .*bootTimeout/);
  });
});
