/**
 * The dashboard following a live pool in a real browser: the pool rises under load and falls
 * after idle shutdown, and the page reconnects across a telemetry restart. Runs the
 * repository's own bin (dashboard.test.ts covers the packed and installed one).
 */
import { join } from "node:path";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { serveTelemetry } from "@flame-ts/pool-core/telemetry";
import { describe, expect, it } from "vitest";
import { crunch } from "./fixtures/work.mjs";
import {
  chromiumPresent,
  dashboardDir,
  ensureDashboardBuilt,
  launchChromium,
  logIn,
  startDashboard,
  useBrowserRun,
} from "./harness.js";

const hasChromium = chromiumPresent("the dashboard browser test");

describe.skipIf(!hasChromium)("flame-dashboard in a browser", () => {
  const run = useBrowserRun();

  it("follows a pool rising under load and falling after idle shutdown, across a telemetry restart", {
    timeout: 240_000,
  }, async () => {
    ensureDashboardBuilt();
    run.pool = new Pool({
      name: "elastic",
      min: 0,
      max: 3,
      maxConcurrency: 1,
      idleShutdownAfter: 1_500,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
    });
    run.telemetry = await serveTelemetry({
      pools: [run.pool],
      snapshotIntervalMs: 250,
      samplePeriodMs: 250,
    });
    // The repository's own bin (the installed one is covered above); no FLAME_DASHBOARD_TOKEN:
    // it generates one and prints it.
    run.dashboard = await startDashboard(
      join(dashboardDir, "bin", "flame-dashboard.mjs"),
      ["--telemetry", run.telemetry.url],
      {
        FLAME_DASHBOARD_TOKEN: "",
      },
    );
    const printed = /log in with token (\S+)/.exec(run.dashboard.output())?.[1];
    expect(printed).toBeDefined();
    const browser = await launchChromium(run, { width: 1400, height: 1200 });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await logIn(page, run.dashboard.url, printed!);
    await page
      .locator('[data-testid="connection"][data-status="open"]')
      .waitFor({ timeout: 30_000 });
    const runnerCount = async () =>
      Number(
        await page
          .locator('[data-testid="runner-count"][data-pool="elastic"]')
          .textContent({ timeout: 10_000 }),
      );
    const callsShown = async () =>
      Number(await page.locator('[data-testid="calls-total"][data-pool="elastic"]').textContent());
    await expect.poll(runnerCount, { timeout: 15_000 }).toBe(0);

    // Load: 3 callers keep every runner busy until the page has shown the pool at 3.
    let loading = true;
    let served = 0;
    const callers = [1, 2, 3].map(async () => {
      while (loading) {
        await run.pool!.call(crunch, { ms: 150 }, { timeout: 60_000 });
        served++;
      }
    });
    let peak = 0;
    try {
      await expect
        .poll(
          async () => {
            peak = Math.max(peak, await runnerCount());
            return peak === 3 && (await callsShown()) >= 15;
          },
          { timeout: 90_000, message: "the page to show 3 runners and 15 calls" },
        )
        .toBe(true);
    } finally {
      loading = false;
      await Promise.all(callers);
    }
    expect(served).toBeGreaterThan(0);

    // Idle shutdown (1.5 s) brings the pool back to zero; the page follows.
    await expect.poll(runnerCount, { timeout: 60_000, interval: 250 }).toBe(0);
    expect(await callsShown()).toBeGreaterThanOrEqual(served);
    await expect
      .poll(() => page.locator(".tl-shrink").count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => page.locator("canvas").count(), { timeout: 10_000 }).toBe(6);

    // The telemetry server goes away and comes back: the page says so and follows again.
    const telemetryPort = run.telemetry.port;
    await run.telemetry.close();
    await page
      .locator('[data-testid="connection"][data-status="retrying"]')
      .waitFor({ timeout: 10_000 });
    run.telemetry = await serveTelemetry({
      pools: [run.pool],
      port: telemetryPort,
      snapshotIntervalMs: 250,
    });
    await page
      .locator('[data-testid="connection"][data-status="open"]')
      .waitFor({ timeout: 30_000 });
    const longCall = run.pool.call(crunch, { ms: 4_000 });
    await expect.poll(runnerCount, { timeout: 15_000 }).toBe(1);
    await longCall;
    expect(pageErrors).toEqual([]);
  });
});
