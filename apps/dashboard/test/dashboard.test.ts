/**
 * The dashboard as a user runs it, in a real browser, against a real pool: the packed and
 * installed `flame-dashboard` bin, login, history for a late page, per-function figures with a
 * failing function, every action with its effect and its timeline event, no telemetry token in
 * anything the browser receives, and SIGTERM leaving no process and no listener. Saves
 * test-artifacts/dashboard*.png, and the README screenshot (docs/dashboard.png) only when
 * UPDATE_SCREENSHOT=1, so a test run leaves the tree clean. A runner's calls held queued are
 * dashboard-queued.test.ts; the pool rising and falling under the page is
 * dashboard-elastic.test.ts (each in its own browser).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { serveTelemetry, type TelemetryServerMessage } from "@flame-ts/pool-core/telemetry";
import type { BrowserContext, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { crunch, failing, holdModel } from "./fixtures/work.mjs";
import {
  alive,
  chromiumPresent,
  dashboardDir,
  descendantsOf,
  ensureDashboardBuilt,
  installPackedDashboard,
  launchChromium,
  listening,
  logIn,
  mkArtifacts,
  processesIn,
  runnerRow,
  runnerRows,
  startDashboard,
  terminate,
  useBrowserRun,
} from "./harness.js";

const hasChromium = chromiumPresent("the dashboard browser test");

const TELEMETRY_TOKEN = "telemetry-secret-4f9a1c";
const DASHBOARD_TOKEN = "dashboard-login-77b2";
const POOL = "browser-test";

describe.skipIf(!hasChromium)("flame-dashboard in a browser", () => {
  const run = useBrowserRun();

  it("installed bin: login, history, per-function figures, actions, no token leak, clean SIGTERM", {
    timeout: 300_000,
  }, async () => {
    ensureDashboardBuilt();
    const installed = installPackedDashboard();
    run.dirs.push(installed.dir);

    run.pool = new Pool({
      name: POOL,
      min: 2,
      max: 4,
      maxConcurrency: 2,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry: new URL("./fixtures/work.mjs", import.meta.url) }),
    });
    // Serving telemetry before start() puts the first boots in its history.
    run.telemetry = await serveTelemetry({
      pools: [run.pool],
      token: TELEMETRY_TOKEN,
      control: true,
      snapshotIntervalMs: 250,
      samplePeriodMs: 500,
    });
    await run.pool.start();

    // Before any page exists: calls, some failing, and enough samples for the charts.
    for (let i = 0; i < 6; i++) await run.pool.call(crunch, { ms: 20 });
    for (const why of ["bad input", "no disk", "quota"]) {
      await expect(run.pool.call(failing, { why })).rejects.toMatchObject({ code: "REMOTE_ERROR" });
    }
    await waitForHistory(
      run.telemetry.url,
      (h) => h.samples.filter((s) => s.calls > 0).length >= 1 && h.samples.length >= 3,
    );

    run.dashboard = await startDashboard(installed.bin, ["--telemetry", run.telemetry.url], {
      FLAME_TELEMETRY_TOKEN: TELEMETRY_TOKEN,
      FLAME_DASHBOARD_TOKEN: DASHBOARD_TOKEN,
    });
    const base = run.dashboard.url;
    const browser = await launchChromium(run, { width: 1366, height: 900 });
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
    await expect(run.pool.call(failing, { why: "live" })).rejects.toMatchObject({
      code: "REMOTE_ERROR",
    });
    await expect
      .poll(() => failRow.locator('[data-testid="function-calls"]').textContent())
      .toBe("4");
    // Tracked resources: the runner holding one shows it until it is released.
    const { model } = await run.pool.call(holdModel, { name: "m" });
    const trackedCell = runnerRow(page, model.runnerId).locator('[data-testid="runner-tracked"]');
    await expect.poll(() => trackedCell.textContent()).toBe("1 held");
    await model.release();
    await expect.poll(() => trackedCell.textContent()).toBe("—");
    await page.screenshot({ path: join(mkArtifacts(), "dashboard-history.png"), fullPage: true });

    // Drain a runner: confirmed in a dialog, recorded, and the runner leaves.
    const [first, second] = run.pool.snapshot().runners.map((r) => r.id);
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
    expect(run.pool.snapshot().runners.map((r) => r.id)).not.toContain(second);

    // Resize: the limits change in the pool and on the page.
    const resize = page.getByRole("form", { name: `Resize pool ${POOL}` });
    await resize.getByLabel("min").fill("1");
    await resize.getByLabel("max").fill("3");
    await resize.getByRole("button", { name: "Resize…" }).click();
    await dialog.getByRole("button", { name: "Resize pool" }).click();
    await expect
      .poll(() => actionResult(page))
      .toMatch(/^Done: pool browser-test resized to min 1, max 3\./);
    expect(run.pool.snapshot()).toMatchObject({ min: 1, max: 3 });
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
    expect(run.pool.snapshot()).toMatchObject({ min: 1, max: 3 });

    // A forged cross-site action (even riding the session cookie) is refused by the server.
    const forged = await fetch(`${base}api/control`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example", cookie },
      body: JSON.stringify({ endpoint: 0, pool: POOL, action: "resize", min: 0, max: 1 }),
    });
    expect(forged.status).toBe(403);
    expect(run.pool.snapshot()).toMatchObject({ min: 1, max: 3 });

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
    const pid = run.dashboard.child.pid!;
    const port = Number(new URL(base).port);
    const children = descendantsOf(pid);
    const ended = await terminate(run.dashboard.child);
    expect(ended.signal).toBeNull();
    expect(alive(pid)).toBe(false);
    for (const child of children) expect(alive(child)).toBe(false);
    expect(processesIn(installed.dir)).toEqual([]);
    expect(await listening(port)).toBe(false);
    run.dashboard = null;
  });
});

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
