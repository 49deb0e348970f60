/**
 * A runner's calls held queued (prefetch) show in the dashboard beside those it runs, in a real
 * browser against a real pool at max whose calls run until the test lets them go; and nothing
 * more once they ran. Saves test-artifacts/dashboard-queued.png.
 */
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { serveTelemetry } from "@flame-ts/pool-core/telemetry";
import { describe, expect, it } from "vitest";
import { hold } from "./fixtures/work.mjs";
import {
  chromiumPresent,
  dashboardDir,
  ensureDashboardBuilt,
  launchChromium,
  logIn,
  mkArtifacts,
  runnerRow,
  startDashboard,
  useBrowserRun,
} from "./harness.js";

const hasChromium = chromiumPresent("the dashboard queued-calls browser test");

const DASHBOARD_TOKEN = "dashboard-login-3c81";

describe.skipIf(!hasChromium)("flame-dashboard in a browser: calls queued on a runner", () => {
  const run = useBrowserRun();

  it("a runner's calls held queued show beside those it runs, and nothing more once they ran", {
    timeout: 180_000,
  }, async () => {
    ensureDashboardBuilt();
    const gate = await openGate();
    try {
      // At max with its one slot busy, the runner is sent the next call ahead of time
      // (prefetch, the default: one per thread, and maxConcurrency 1 gives it one thread).
      run.pool = new Pool({
        name: QUEUE_POOL,
        min: 1,
        max: 1,
        maxConcurrency: 1,
        shutdownTimeout: 5_000,
        backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
      });
      run.telemetry = await serveTelemetry({ pools: [run.pool], snapshotIntervalMs: 250 });
      await run.pool.start();
      // The repository's own bin: the installed one is dashboard.test.ts's.
      run.dashboard = await startDashboard(
        join(dashboardDir, "bin", "flame-dashboard.mjs"),
        ["--telemetry", run.telemetry.url],
        { FLAME_DASHBOARD_TOKEN: DASHBOARD_TOKEN },
      );
      const browser = await launchChromium(run, { width: 1366, height: 900 });
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(error.message));
      await logIn(page, run.dashboard.url, DASHBOARD_TOKEN);
      const panel = page.locator(`section[data-pool="${QUEUE_POOL}"]`);
      await panel.waitFor({ timeout: 30_000 });
      const [runnerId] = run.pool.snapshot().runners.map((r) => r.id);
      const slots = runnerRow(page, runnerId!).locator('[data-testid="runner-slots"]');
      const stat = (testId: string) =>
        panel.locator(`[data-testid="${testId}"][data-pool="${QUEUE_POOL}"]`).textContent();
      await expect.poll(() => slots.textContent(), { timeout: 30_000 }).toBe("0/1");
      expect(await stat("slots-used-note")).toBe("of 1");

      // Three calls that run until released: one runs, one is held queued on the runner, and
      // one waits in the pool (the runner holds no more than one queued).
      const pool = run.pool;
      const calls = [1, 2, 3].map(() => pool.call(hold, { port: gate.port }, { timeout: 120_000 }));
      // Should the test fail before releasing them, they fail with the pool: not unhandled.
      for (const call of calls) call.catch(() => {});
      // The first runs (its runner thread connected), and it runs until released.
      await expect
        .poll(() => gate.started(), { timeout: 30_000, message: "the first call running" })
        .toBe(1);
      await expect
        .poll(
          () => {
            const s = pool.snapshot();
            return { inflight: s.runners[0]?.inflight, queued: s.runners[0]?.queued, w: s.waiting };
          },
          { timeout: 30_000, message: "1 call running, 1 queued on the runner, 1 in the pool" },
        )
        .toEqual({ inflight: 1, queued: 1, w: 1 });
      expect(gate.started()).toBe(1); // the queued one has not started: it waits on the runner
      await expect.poll(() => slots.textContent(), { timeout: 30_000 }).toBe("1/1 · 1 queued");
      await expect.poll(() => stat("slots-used")).toBe("1");
      await expect.poll(() => stat("slots-used-note")).toBe("of 1 · 1 queued on runners");
      await expect.poll(() => stat("waiting")).toBe("1");
      // The "Slots in use" chart draws the queued calls as their own series.
      const slotsLegend = panel.locator('[data-testid="chart-slots"] .u-legend');
      expect(await slotsLegend.textContent()).toContain("running");
      expect(await slotsLegend.textContent()).toContain("queued on runners");
      await page.screenshot({ path: join(mkArtifacts(), "dashboard-queued.png"), fullPage: true });

      // Released, all three run to the end; the row shows the slots alone again.
      gate.release();
      await Promise.all(calls);
      expect(gate.started()).toBe(3);
      await expect.poll(() => slots.textContent(), { timeout: 30_000 }).toBe("0/1");
      await expect.poll(() => stat("slots-used-note")).toBe("of 1");
      await expect.poll(() => stat("waiting")).toBe("0");
      expect(pageErrors).toEqual([]);
    } finally {
      await gate.close();
    }
  });
});

const QUEUE_POOL = "queued-test";

/**
 * The server `hold` calls connect to: each connection is a call that started; `release()`
 * ends them, and every later one at once, so each call returns.
 */
async function openGate(): Promise<{
  port: number;
  started(): number;
  release(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let started = 0;
  let released = false;
  const server = createServer((socket) => {
    started++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    if (released) socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    started: () => started,
    release: () => {
      released = true;
      for (const socket of sockets) socket.end();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
