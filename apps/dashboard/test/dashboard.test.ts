/**
 * The dashboard as a user runs it, in a real browser, against a real pool: the packed and
 * installed `flame-dashboard` bin, login, history for a late page, per-function figures with a
 * failing function, every action with its effect and its timeline event, no telemetry token in
 * anything the browser receives, and SIGTERM leaving no process and no listener. Saves
 * test-artifacts/dashboard*.png, and the README screenshot (docs/dashboard.png) only when
 * UPDATE_SCREENSHOT=1, so a test run leaves the tree clean.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import {
  serveTelemetry,
  type TelemetryServer,
  type TelemetryServerMessage,
} from "@flame-ts/pool-core/telemetry";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { crunch, failing, holdModel } from "./fixtures/work.mjs";
import {
  alive,
  artifactsDir,
  CHROMIUM,
  CHROMIUM_ARGS,
  dashboardDir,
  descendantsOf,
  ensureDashboardBuilt,
  installPackedDashboard,
  listening,
  logIn,
  processesIn,
  type StartedDashboard,
  startDashboard,
  terminate,
} from "./harness.js";

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing under CI=true: install Debian's chromium package.`);
}
if (!hasChromium) console.warn(`skipping the dashboard browser test: ${CHROMIUM} not found`);

const TELEMETRY_TOKEN = "telemetry-secret-4f9a1c";
const DASHBOARD_TOKEN = "dashboard-login-77b2";
const POOL = "browser-test";

describe.skipIf(!hasChromium)("flame-dashboard in a browser", () => {
  let pool: Pool | null = null;
  let telemetry: TelemetryServer | null = null;
  let dashboard: StartedDashboard | null = null;
  let browser: BrowserContext | null = null;
  const dirs: string[] = [];
  afterEach(async () => {
    await browser?.close();
    if (dashboard !== null) await terminate(dashboard.child);
    await telemetry?.close();
    await pool?.stop();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("installed bin: login, history, per-function figures, actions, no token leak, clean SIGTERM", {
    timeout: 300_000,
  }, async () => {
    ensureDashboardBuilt();
    const installed = installPackedDashboard();
    dirs.push(installed.dir);

    pool = new Pool({
      name: POOL,
      min: 2,
      max: 4,
      maxConcurrency: 2,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
    });
    // Serving telemetry before start() puts the first boots in its history.
    telemetry = await serveTelemetry({
      pools: [pool],
      token: TELEMETRY_TOKEN,
      control: true,
      snapshotIntervalMs: 250,
      samplePeriodMs: 500,
    });
    await pool.start();

    // Before any page exists: calls, some failing, and enough samples for the charts.
    for (let i = 0; i < 6; i++) await pool.call(crunch, { ms: 20 });
    for (const why of ["bad input", "no disk", "quota"]) {
      await expect(pool.call(failing, { why })).rejects.toMatchObject({ code: "REMOTE_ERROR" });
    }
    await waitForHistory(
      telemetry.url,
      (h) => h.samples.filter((s) => s.calls > 0).length >= 1 && h.samples.length >= 3,
    );

    dashboard = await startDashboard(installed.bin, ["--telemetry", telemetry.url], {
      FLAME_TELEMETRY_TOKEN: TELEMETRY_TOKEN,
      FLAME_DASHBOARD_TOKEN: DASHBOARD_TOKEN,
    });
    const base = dashboard.url;
    const profile = mkdtempSync(join(tmpdir(), "flame-dashboard-chromium-"));
    dirs.push(profile);
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1366, height: 900 },
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const received = recordResponses(page);

    // Login required: the dashboard sends an unauthenticated visitor to the login form.
    await page.goto(base);
    await page.waitForURL(`${base}login`);
    expect((await fetch(`${base}api/stream`)).status).toBe(401);
    await page.getByLabel("Dashboard token").fill("wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByText(/That token is not right/).waitFor();
    await logIn(page, base, DASHBOARD_TOKEN);
    expect(await page.evaluate(() => document.cookie)).not.toContain("flame_session");
    const cookie = await sessionCookie(browser);

    // History: everything below happened before the page connected.
    const panel = page.locator(`section[data-pool="${POOL}"]`);
    await panel.waitFor({ timeout: 30_000 });
    await expect.poll(() => panel.locator(".tl-up").count()).toBeGreaterThanOrEqual(2);
    expect(Number(await panel.getAttribute("data-samples"))).toBeGreaterThanOrEqual(3);
    await expect.poll(() => runnerRows(page).count()).toBe(2);

    // Per-function figures with a failing function, and its last failures.
    const crunchRow = page.locator('[data-testid="function-row"][data-fn="dashboard-test.crunch"]');
    const failRow = page.locator('[data-testid="function-row"][data-fn="dashboard-test.fail"]');
    expect(await crunchRow.locator('[data-testid="function-calls"]').textContent()).toBe("6");
    expect(await crunchRow.locator('[data-testid="function-errors"]').textContent()).toBe("—");
    expect(await failRow.locator('[data-testid="function-calls"]').textContent()).toBe("3");
    expect(await failRow.locator('[data-testid="function-errors"]').textContent()).toBe(
      "REMOTE_ERROR ×3",
    );
    const failures = page.locator('[data-testid="failure"]');
    expect(await failures.count()).toBe(3);
    expect(await failures.first().textContent()).toMatch(
      /REMOTE_ERROR.*dashboard-test\.fail on \S+: .*fixture failure: quota/,
    );
    // Live: a new failure shows up without a reload.
    await expect(pool.call(failing, { why: "live" })).rejects.toMatchObject({
      code: "REMOTE_ERROR",
    });
    await expect
      .poll(() => failRow.locator('[data-testid="function-calls"]').textContent())
      .toBe("4");
    // Tracked resources: the runner holding one shows it until it is released.
    const { model } = await pool.call(holdModel, { name: "m" });
    const trackedCell = runnerRow(page, model.runnerId).locator('[data-testid="runner-tracked"]');
    await expect.poll(() => trackedCell.textContent()).toBe("1 held");
    await model.release();
    await expect.poll(() => trackedCell.textContent()).toBe("—");
    await page.screenshot({ path: join(mkArtifacts(), "dashboard-history.png"), fullPage: true });

    // Drain a runner: confirmed in a dialog, recorded, and the runner leaves.
    const [first, second] = pool.snapshot().runners.map((r) => r.id);
    await page.getByRole("button", { name: `Drain runner ${first}` }).click();
    const dialog = page.getByRole("dialog");
    await expect
      .poll(() => dialog.getByRole("heading").textContent())
      .toBe(`Drain runner ${first}?`);
    await dialog.getByRole("button", { name: "Drain runner" }).click();
    await expect.poll(() => actionResult(page)).toMatch(/^Done: runner .* draining\./);
    await expect
      .poll(async () => (await runnerRow(page, first!).count()) === 0, {
        timeout: 30_000,
        message: `runner ${first} gone from the page`,
      })
      .toBe(true);
    await expect.poll(() => timelineText(page)).toContain(`dashboard drained ${first}`);

    // Kill a runner (keyboard: focus the button, Enter, then confirm with Enter).
    await page.getByRole("button", { name: `Kill runner ${second}` }).focus();
    await page.keyboard.press("Enter");
    await expect
      .poll(() => dialog.getByRole("heading").textContent())
      .toBe(`Kill runner ${second}?`);
    await dialog.getByRole("button", { name: "Kill runner" }).focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => actionResult(page)).toMatch(/^Done: runner .* killed\./);
    await expect
      .poll(async () => (await runnerRow(page, second!).count()) === 0, {
        timeout: 30_000,
        message: `runner ${second} gone from the page`,
      })
      .toBe(true);
    await expect.poll(() => timelineText(page)).toContain(`dashboard killed ${second}`);
    // The pool reports the kill as an operator's, and the page shows it so: never a crash.
    await expect.poll(() => timelineText(page)).toContain(`runner ${second} killed by an operator`);
    expect(await timelineText(page)).not.toContain("crashed");
    expect(pool.snapshot().runners.map((r) => r.id)).not.toContain(second);

    // Resize: the limits change in the pool and on the page.
    const resize = page.getByRole("form", { name: `Resize pool ${POOL}` });
    await resize.getByLabel("min").fill("1");
    await resize.getByLabel("max").fill("3");
    await resize.getByRole("button", { name: "Resize…" }).click();
    await dialog.getByRole("button", { name: "Resize pool" }).click();
    await expect
      .poll(() => actionResult(page))
      .toMatch(/^Done: pool browser-test resized to min 1, max 3\./);
    expect(pool.snapshot()).toMatchObject({ min: 1, max: 3 });
    await expect.poll(() => page.getByTestId("limit-min").textContent()).toBe("min 1");
    await expect.poll(() => page.getByTestId("limit-max").textContent()).toBe("max 3");
    await expect.poll(() => timelineText(page)).toContain(`dashboard resized ${POOL}`);

    // The README's screenshot (history, figures and the actions' events on one page), when asked.
    if (process.env.UPDATE_SCREENSHOT === "1") {
      mkdirSync(`${dashboardDir}docs`, { recursive: true });
      await page.screenshot({ path: join(dashboardDir, "docs", "dashboard.png"), fullPage: true });
    }

    // A refused action says why.
    await resize.getByLabel("min").fill("5");
    await resize.getByLabel("max").fill("2");
    await resize.getByRole("button", { name: "Resize…" }).click();
    await dialog.getByRole("button", { name: "Resize pool" }).click();
    await expect
      .poll(() => page.getByTestId("action-result").getAttribute("data-ok"))
      .toBe("false");
    expect(await actionResult(page)).toMatch(/^Refused: .*min.*at most max \(2\)/);
    expect(pool.snapshot()).toMatchObject({ min: 1, max: 3 });

    // A forged cross-site action (even riding the session cookie) is refused by the server.
    const forged = await fetch(`${base}api/control`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example", cookie },
      body: JSON.stringify({ endpoint: 0, pool: POOL, action: "resize", min: 0, max: 1 }),
    });
    expect(forged.status).toBe(403);
    expect(pool.snapshot()).toMatchObject({ min: 1, max: 3 });

    await page.screenshot({ path: join(mkArtifacts(), "dashboard.png"), fullPage: true });

    // No secret in the browser: neither token appears in any response it received.
    const streamed = await readStream(base, cookie);
    const everything = [...(await received()), streamed].join("\n");
    expect(streamed).toContain('"type":"history"');
    expect(everything).toContain(POOL);
    expect(everything).not.toContain(TELEMETRY_TOKEN);
    expect(everything).not.toContain(DASHBOARD_TOKEN);
    expect(await page.content()).not.toContain(TELEMETRY_TOKEN);
    expect(pageErrors).toEqual([]);

    // SIGTERM with the page still streaming: the bin exits, leaving no process and no listener.
    const pid = dashboard.child.pid!;
    const port = Number(new URL(base).port);
    const children = descendantsOf(pid);
    const ended = await terminate(dashboard.child);
    expect(ended.signal).toBeNull();
    expect(alive(pid)).toBe(false);
    for (const child of children) expect(alive(child)).toBe(false);
    expect(processesIn(installed.dir)).toEqual([]);
    expect(await listening(port)).toBe(false);
    dashboard = null;
  });

  it("follows a pool rising under load and falling after idle shutdown, across a telemetry restart", {
    timeout: 240_000,
  }, async () => {
    ensureDashboardBuilt();
    pool = new Pool({
      name: "elastic",
      min: 0,
      max: 3,
      maxConcurrency: 1,
      idleShutdownAfter: 1_500,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
    });
    telemetry = await serveTelemetry({
      pools: [pool],
      snapshotIntervalMs: 250,
      samplePeriodMs: 250,
    });
    // The repository's own bin (the installed one is covered above); no FLAME_DASHBOARD_TOKEN:
    // it generates one and prints it.
    dashboard = await startDashboard(
      join(dashboardDir, "bin", "flame-dashboard.mjs"),
      ["--telemetry", telemetry.url],
      {
        FLAME_DASHBOARD_TOKEN: "",
      },
    );
    const printed = /log in with token (\S+)/.exec(dashboard.output())?.[1];
    expect(printed).toBeDefined();
    const profile = mkdtempSync(join(tmpdir(), "flame-dashboard-chromium-"));
    dirs.push(profile);
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1200 },
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await logIn(page, dashboard.url, printed!);
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
        await pool!.call(crunch, { ms: 150 }, { timeout: 60_000 });
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

function mkArtifacts(): string {
  mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

function runnerRows(page: Page) {
  return page.locator('[data-testid="runner-row"]');
}

function runnerRow(page: Page, id: string) {
  return page.locator(`[data-testid="runner-row"][data-runner="${id}"]`);
}

async function actionResult(page: Page): Promise<string> {
  return ((await page.getByTestId("action-result").textContent()) ?? "").replace(/×$/, "");
}

async function timelineText(page: Page): Promise<string> {
  return (await page.locator('[data-testid="timeline-entry"]').allTextContents()).join("\n");
}

/** Every response body and header the page receives (event streams are read separately). */
function recordResponses(page: Page): () => Promise<string[]> {
  const pending: Array<Promise<string>> = [];
  page.on("response", (response) => {
    const headers = JSON.stringify(response.headers());
    if ((response.headers()["content-type"] ?? "").includes("text/event-stream")) {
      pending.push(Promise.resolve(headers));
      return;
    }
    pending.push(
      response.body().then(
        (body) => `${headers}\n${body.toString("utf8")}`,
        () => headers,
      ),
    );
  });
  return () => Promise.all(pending);
}

async function sessionCookie(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === "flame_session");
  if (cookie === undefined) throw new Error("no session cookie");
  expect(cookie.httpOnly).toBe(true);
  expect(cookie.sameSite).toBe("Strict");
  return `${cookie.name}=${cookie.value}`;
}

/** Reads the page's event stream (as the browser gets it) until history and a snapshot came. */
async function readStream(base: string, cookie: string): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(`${base}api/stream`, { headers: { cookie }, signal: controller.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = "";
  try {
    while (!text.includes('"type":"snapshot"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    controller.abort();
  }
  return text;
}

type History = Extract<TelemetryServerMessage, { type: "history" }>["history"];

/** Connects to the telemetry server (as the test, not the page) until its history passes `check`. */
async function waitForHistory(url: string, check: (history: History) => boolean): Promise<void> {
  await expect
    .poll(
      () =>
        new Promise<boolean>((resolve) => {
          const ws = new WebSocket(url, {
            headers: { authorization: `Bearer ${TELEMETRY_TOKEN}` },
          });
          ws.on("error", () => resolve(false));
          ws.on("message", (data) => {
            const message = JSON.parse(data.toString()) as TelemetryServerMessage;
            if (message.type !== "history") return;
            ws.terminate();
            resolve(check(message.history));
          });
        }),
      { timeout: 30_000, message: "the telemetry history" },
    )
    .toBe(true);
}
