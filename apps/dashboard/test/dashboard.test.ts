/**
 * The dashboard in a real browser against a real pool: runners rise under load and fall
 * after idle shutdown, and the page shows both. Saves test-artifacts/dashboard.png.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { serveTelemetry, type TelemetryServer } from "@flame-ts/pool-core/telemetry";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { crunch } from "./fixtures/work.mjs";
import {
  artifactsDir,
  CHROMIUM,
  CHROMIUM_ARGS,
  ensureDashboardBuilt,
  freePort,
  startNext,
  stopGroup,
  waitFor,
} from "./harness.js";

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing under CI=true: install Debian's chromium package.`);
}
if (!hasChromium) console.warn(`skipping the dashboard browser test: ${CHROMIUM} not found`);

describe.skipIf(!hasChromium)("dashboard in a browser", () => {
  let pool: Pool | null = null;
  let telemetry: TelemetryServer | null = null;
  let next: ChildProcess | null = null;
  let browser: BrowserContext | null = null;
  let profileDir: string | null = null;
  afterEach(async () => {
    await browser?.close();
    if (next !== null) await stopGroup(next);
    await telemetry?.close();
    await pool?.stop();
    if (profileDir !== null) rmSync(profileDir, { recursive: true, force: true });
  });

  it("shows the runner count rising under load and falling after idle shutdown", {
    timeout: 240_000,
  }, async () => {
    ensureDashboardBuilt();
    pool = new Pool({
      name: "browser-test",
      min: 0,
      max: 3,
      maxConcurrency: 1,
      idleShutdownAfter: 1_500,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
    });
    telemetry = await serveTelemetry({ pools: [pool], snapshotIntervalMs: 250 });
    const port = await freePort();
    next = startNext(port, telemetry.url);
    let nextStderr = "";
    next.stderr?.on("data", (chunk: Buffer) => {
      nextStderr += chunk.toString();
    });
    const url = `http://127.0.0.1:${port}/`;
    await waitFor(
      `next start at ${url}`,
      async () => {
        if (next?.exitCode !== null) throw new Error(`next start exited: ${nextStderr}`);
        return fetch(url).then(
          (res) => res.ok,
          () => false,
        );
      },
      60_000,
    );

    profileDir = mkdtempSync(join(tmpdir(), "flame-dashboard-chromium-"));
    // A fresh profile per run (Playwright's way of passing --user-data-dir).
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1200 },
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(url);
    await page
      .locator('[data-testid="connection"][data-status="open"]')
      .waitFor({ timeout: 30_000 });
    const runnerCount = runnerCountOf(page, "browser-test");
    const callsShown = async () =>
      Number(
        await page.locator('[data-testid="calls-total"][data-pool="browser-test"]').textContent(),
      );
    await expect.poll(runnerCount, { timeout: 15_000 }).toBe(0);

    // Load: 3 callers keep every runner busy until the page has shown the pool at 3.
    let loading = true;
    let served = 0;
    const callers = [1, 2, 3].map(async () => {
      while (loading) {
        await pool!.call(crunch, { ms: 150 }, { timeout: 60_000 });
        served++;
      }
    });
    let peak = 0;
    try {
      await waitFor(
        "the page to show 3 runners and 15 calls",
        async () => {
          peak = Math.max(peak, await runnerCount());
          return peak === 3 && (await callsShown()) >= 15;
        },
        90_000,
      );
    } finally {
      loading = false;
      await Promise.all(callers);
    }
    expect(served).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('[data-testid="runner-row"]').count(), { timeout: 5_000 })
      .toBeGreaterThan(0);

    // Idle shutdown (1.5 s) brings the pool back to zero; the page follows.
    await expect.poll(runnerCount, { timeout: 60_000, interval: 250 }).toBe(0);
    expect(pool.snapshot().runners).toHaveLength(0);
    const calls = Number(
      await page.locator('[data-testid="calls-total"][data-pool="browser-test"]').textContent(),
    );
    expect(calls).toBeGreaterThanOrEqual(served);
    await expect
      .poll(() => page.locator(".tl-shrink").count(), { timeout: 10_000 })
      .toBeGreaterThan(0);

    // Two more chart samples so the charts show the fall too, then keep the picture.
    const samples = () =>
      page
        .locator('section[data-pool="browser-test"]')
        .evaluate((el) => Number((el as HTMLElement).dataset.samples));
    const samplesAtZero = await samples();
    await expect.poll(samples, { timeout: 10_000 }).toBeGreaterThanOrEqual(samplesAtZero + 2);
    await expect.poll(() => page.locator("canvas").count(), { timeout: 10_000 }).toBe(6);
    mkdirSync(artifactsDir, { recursive: true });
    await page.screenshot({ path: join(artifactsDir, "dashboard.png"), fullPage: true });

    // The telemetry server goes away and comes back: the page shows it, reconnects, and
    // follows the pool again.
    const telemetryPort = telemetry.port;
    await telemetry.close();
    await page
      .locator('[data-testid="connection"][data-status="retrying"]')
      .waitFor({ timeout: 10_000 });
    telemetry = await serveTelemetry({
      pools: [pool],
      port: telemetryPort,
      snapshotIntervalMs: 250,
    });
    await page
      .locator('[data-testid="connection"][data-status="open"]')
      .waitFor({ timeout: 30_000 });
    const longCall = pool.call(crunch, { ms: 4_000 });
    await expect.poll(runnerCount, { timeout: 15_000 }).toBe(1);
    await longCall;
    expect(pageErrors).toEqual([]);
  });
});

function runnerCountOf(page: Page, pool: string): () => Promise<number> {
  return async () => {
    const text = await page
      .locator(`[data-testid="runner-count"][data-pool="${pool}"]`)
      .textContent({ timeout: 10_000 });
    return Number(text);
  };
}
