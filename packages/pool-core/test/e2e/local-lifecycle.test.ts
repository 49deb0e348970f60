/** Scaling and lifecycle of a real pool of runner-agent processes. */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import type { PoolEvent } from "../../src/index.js";
import { add, echo, sleep, whoami } from "../fixtures/functions.mjs";
import { isAlive, localPool } from "./helpers.js";

function record(pool: { events: { subscribe(l: (e: PoolEvent) => void): () => void } }) {
  const events: PoolEvent[] = [];
  pool.events.subscribe((e) => events.push(e));
  return events;
}

describe("LocalBackend pool: lifecycle", () => {
  it("SIGKILL of the parent process: every runner exits within the failsafe", async () => {
    const failsafeMs = 3_000;
    const parentScript = fileURLToPath(new URL("../fixtures/parent.mjs", import.meta.url));
    const parent = spawn(process.execPath, [parentScript, "2", String(failsafeMs)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    onTestFinished(() => {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
    });
    const lines = createInterface({ input: parent.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      parent.once("exit", (code) => reject(new Error(`parent exited early (${code})`)));
    });
    const { pids } = JSON.parse(first) as { pids: number[] };
    onTestFinished(() => {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    });
    expect(pids).toHaveLength(2);
    expect(pids.every(isAlive)).toBe(true);

    const killedAt = performance.now();
    parent.kill("SIGKILL");
    await expect
      .poll(() => pids.every((pid) => !isAlive(pid)), {
        timeout: failsafeMs + 10_000,
        message: "runners to exit",
      })
      .toBe(true);
    const lastExitMs = performance.now() - killedAt;
    console.log(
      `[measure] parent SIGKILLed → last of ${pids.length} runners gone after ${lastExitMs.toFixed(0)} ms (failsafe ${failsafeMs} ms)`,
    );
  });

  it("an idle non-min runner shuts down after idleShutdownAfter; a min runner stays", async () => {
    const pool = localPool({ min: 1, max: 2, maxConcurrency: 1, idleShutdownAfter: 500 });
    const events = record(pool);
    await pool.start();
    // Two concurrent calls with maxConcurrency 1 need a second (non-min) runner.
    await Promise.all([
      pool.call(sleep, { ms: 300, value: 1 }),
      pool.call(sleep, { ms: 300, value: 2 }),
    ]);
    await expect
      .poll(() => events.some((e) => e.type === "shrink"), {
        timeout: 15_000,
        message: "the idle runner to go",
      })
      .toBe(true);
    const shrink = events.find((e) => e.type === "shrink");
    expect(shrink).toMatchObject({ count: 1 });
    const left = pool.snapshot().runners;
    expect(left.map((r) => r.isMin)).toEqual([true]);
    // The min runner is still there well after the idle period and still serves.
    expect(await pool.call(add, { a: 1, b: 2 })).toBe(3);
    expect(pool.snapshot().runners.map((r) => r.id)).toEqual(left.map((r) => r.id));
  });

  it("an idle check that says no keeps the runner; yes shuts it down", async () => {
    let allow = false;
    let asked = 0;
    const pool = localPool({
      idleShutdownAfter: {
        afterMs: 200,
        check: () => {
          asked += 1;
          return allow;
        },
      },
    });
    const events = record(pool);
    await pool.call(echo, 1);
    await expect
      .poll(() => asked >= 2, { timeout: 15_000, message: "the idle check to be asked twice" })
      .toBe(true);
    expect(events.some((e) => e.type === "shrink")).toBe(false);
    allow = true;
    await expect
      .poll(() => pool.snapshot().runners.length === 0, {
        timeout: 15_000,
        message: "the runner to go",
      })
      .toBe(true);
  });

  it("minIdleShutdownAfter lets idle min runners go too", async () => {
    const pool = localPool({ min: 1, max: 1, idleShutdownAfter: 200, minIdleShutdownAfter: 300 });
    await pool.start();
    await expect
      .poll(() => pool.snapshot().runners.length === 0, {
        timeout: 15_000,
        message: "the min runner to go",
      })
      .toBe(true);
    expect(await pool.call(add, { a: 2, b: 2 })).toBe(4);
  });

  it("singleUse: every call gets a fresh runner and min is kept", async () => {
    const pool = localPool({ min: 1, max: 2, singleUse: true });
    await pool.start();
    const a = (await pool.call(whoami, null)) as { pid: number };
    const b = (await pool.call(whoami, null)) as { pid: number };
    expect(a.pid).not.toBe(b.pid);
    await expect
      .poll(
        () => pool.snapshot().runners.filter((r) => r.isMin && r.state === "ready").length === 1,
        { timeout: 15_000, message: "a replacement min runner" },
      )
      .toBe(true);
  });

  it("operator actions: drainRunner lets its call finish, killRunner fails it; both are recorded", async () => {
    const pool = localPool({ min: 1, max: 2, maxConcurrency: 2 });
    const events = record(pool);
    await pool.start();
    const first = pool.snapshot().runners[0]!.id;
    const running = pool.call(sleep, { ms: 400, value: "finished" });
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 1, {
        timeout: 5_000,
        message: "the call to start",
      })
      .toBe(true);
    expect(pool.drainRunner(first, { by: "test" })).toBe(true);
    expect(await running).toBe("finished");
    await expect
      .poll(() => pool.snapshot().runners.some((r) => r.id !== first && r.state === "ready"), {
        timeout: 15_000,
        message: "a replacement min runner",
      })
      .toBe(true);
    const second = pool.snapshot().runners.find((r) => r.state === "ready")!.id;
    const doomed = pool.call(sleep, { ms: 10_000, value: "never" });
    await expect
      .poll(() => pool.snapshot().runners.some((r) => r.id === second && r.inflight === 1), {
        timeout: 5_000,
        message: "the second call to start",
      })
      .toBe(true);
    expect(pool.killRunner(second, { by: "test" })).toBe(true);
    await expect(doomed).rejects.toMatchObject({ code: "RUNNER_DOWN" });
    expect(pool.killRunner("no-such-runner")).toBe(false);
    const controls = events.filter((e) => e.type === "control");
    expect(controls).toMatchObject([
      { action: "drainRunner", target: first, by: "test", ok: true },
      { action: "killRunner", target: second, by: "test", ok: true },
      { action: "killRunner", target: "no-such-runner", by: null, ok: false },
    ]);
  });

  it("10,000 calls from bursty concurrent callers on max 4 × maxConcurrency 50: all correct, none lost or doubled", async () => {
    const pool = localPool({ max: 4, maxConcurrency: 50, timeout: 60_000 });
    const events = record(pool);
    const total = 10_000;
    const results = new Array<number>(total);
    let next = 0;
    // 40 callers, each firing bursts of 1–50 calls at once.
    const callers = Array.from({ length: 40 }, async (_, caller) => {
      let burst = (caller % 50) + 1;
      while (next < total) {
        const ids: number[] = [];
        for (let i = 0; i < burst && next < total; i += 1) ids.push(next++);
        await Promise.all(
          ids.map(async (id) => {
            results[id] = (await pool.call(add, { a: id, b: 1 })) as number;
          }),
        );
        burst = (burst * 7 + 3) % 50 || 1;
      }
    });
    await Promise.all(callers);
    expect(results.every((value, id) => value === id + 1)).toBe(true);
    const finished = events.filter((e) => e.type === "callFinished");
    expect(finished).toHaveLength(total);
    expect(finished.every((e) => e.type === "callFinished" && e.ok)).toBe(true);
    const snap = pool.snapshot();
    expect(snap.runners.length).toBeLessThanOrEqual(4);
    expect(snap.waiting).toBe(0);
    expect(snap.runners.every((r) => r.inflight === 0)).toBe(true);
    expect(snap.runners.reduce((sum, r) => sum + r.callsServed, 0)).toBe(total);
  }, 120_000);
});
