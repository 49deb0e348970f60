/**
 * Issue 22, rows 4, 11 and 12, against a real flame-dashboard process (this repository's bin):
 * oversized bodies get 413 before any check, declared or chunked, and the server's memory does
 * not grow by the body; a cookie replayed after logout, or after the dashboard token changed,
 * is refused; a stranger's stream of wrong logins never keeps out the holder of the right token.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  dashboardDir,
  ensureDashboardBuilt,
  type StartedDashboard,
  startDashboard,
  terminate,
} from "./harness.js";

const BIN = join(dashboardDir, "bin", "flame-dashboard.mjs");
const TOKEN = "hardening-token-5d1e";
/** Nothing listens there: these tests never open the event stream. */
const TELEMETRY = "ws://127.0.0.1:9";
/** What the attacker of row 4 sends: far above any limit, small enough for a quick test. */
const HUGE = 200 * 1024 * 1024;

let dashboard: StartedDashboard | null = null;
let browser: BrowserContext | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await browser?.close();
  browser = null;
  if (dashboard !== null) await terminate(dashboard.child);
  dashboard = null;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(token: string): Promise<StartedDashboard> {
  ensureDashboardBuilt();
  return startDashboard(BIN, ["--telemetry", TELEMETRY], { FLAME_DASHBOARD_TOKEN: token });
}

/** The highest resident set the process ever had (VmHWM): GC timing cannot hide a peak. */
function peakRssBytes(pid: number): number {
  const line = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (line === null) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(line[1]) * 1024;
}

interface Sent {
  status: number | null;
  bytes: number;
  error?: string;
}

/**
 * POSTs `total` bytes, with a Content-Length header or chunked, writing only as fast as the
 * server reads, and stops as soon as an answer comes: what a hostile client sees.
 */
function sendHuge(base: string, path: string, declared: boolean, total: number): Promise<Sent> {
  return new Promise((resolve) => {
    const url = new URL(path, base);
    const json = path.includes("control");
    const headers: Record<string, string> = {
      origin: url.origin,
      "content-type": json ? "application/json" : "application/x-www-form-urlencoded",
    };
    if (declared) headers["content-length"] = String(total);
    // Kept alive, as browsers and curl do: a client that asks for `Connection: close` makes the
    // server close a socket with unread data, and the kernel's reset may then beat the 413.
    const agent = new Agent({ keepAlive: true });
    const req = request(url, { method: "POST", headers, agent });
    const result: Sent = { status: null, bytes: 0 };
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      if (error !== undefined) result.error = error;
      req.destroy();
      agent.destroy();
      resolve(result);
    };
    req.on("response", (res) => {
      result.status = res.statusCode ?? null;
      res.resume();
      res.on("end", () => finish());
      res.on("error", () => finish());
    });
    req.on("error", (error) => finish(error.message));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    chunk.write(json ? '{"a":"' : "token=");
    const pump = () => {
      while (!done && result.status === null && result.bytes < total) {
        const piece = chunk.subarray(0, Math.min(chunk.length, total - result.bytes));
        result.bytes += piece.length;
        if (!req.write(piece)) {
          req.once("drain", pump);
          return;
        }
      }
      if (!done && result.bytes >= total) req.end();
    };
    pump();
  });
}

function form(token: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({ token, ...extra });
}

/** A login POST as a script (no browser) sends it; returns the status, redirect and cookie. */
async function postLogin(base: string, body: URLSearchParams) {
  const res = await fetch(`${base}api/login`, {
    method: "POST",
    headers: { origin: new URL(base).origin },
    body,
    redirect: "manual",
  });
  const cookie = /flame_session=[^;]+/.exec(res.headers.get("set-cookie") ?? "")?.[0];
  return { status: res.status, location: res.headers.get("location") ?? "", cookie };
}

async function sessionStatus(base: string, cookie: string): Promise<number> {
  return (await fetch(`${base}api/session`, { headers: { cookie } })).status;
}

describe("dashboard request bodies (issue 22 row 4)", () => {
  it("answers 413 on every route that reads a body, declared or chunked, holding none of it", {
    timeout: 240_000,
  }, async () => {
    dashboard = await start(TOKEN);
    const base = dashboard.url;
    // Load both routes once, so the baseline includes their code.
    expect((await postLogin(base, form("wrong"))).status).toBe(303);
    const pid = dashboard.child.pid!;
    const before = peakRssBytes(pid);
    const results: Record<string, Sent> = {};
    for (const path of ["api/login", "api/control"]) {
      for (const declared of [true, false]) {
        results[`${path} ${declared ? "Content-Length" : "chunked"}`] = await sendHuge(
          base,
          path,
          declared,
          HUGE,
        );
      }
    }
    const grownMb = (peakRssBytes(pid) - before) / 2 ** 20;
    console.log(
      `row 4: peak RSS grew ${grownMb.toFixed(1)} MB over 4 POSTs of ${HUGE / 2 ** 20} MB`,
      results,
    );
    for (const [what, sent] of Object.entries(results)) {
      expect({ what, status: sent.status }).toEqual({ what, status: 413 });
      // Cut off at the limit: the client never got to send the whole body.
      expect(sent.bytes, what).toBeLessThan(HUGE);
    }
    expect(grownMb).toBeLessThan(HUGE / 2 ** 20 / 8);
    // The dashboard still serves a normal login afterwards.
    expect((await postLogin(base, form(TOKEN))).cookie).toBeDefined();
  });
});

describe("dashboard sessions (issue 22 row 11)", () => {
  it("refuses a session cookie replayed after logout, and every session after a token change", {
    timeout: 120_000,
  }, async () => {
    dashboard = await start(TOKEN);
    let base = dashboard.url;
    const first = (await postLogin(base, form(TOKEN))).cookie!;
    expect(first).toBeDefined();
    expect(await sessionStatus(base, first)).toBe(204);
    const out = await fetch(`${base}api/logout`, {
      method: "POST",
      headers: { origin: new URL(base).origin, cookie: first },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    // The copied cookie, replayed after logout: refused everywhere.
    expect(await sessionStatus(base, first)).toBe(401);
    expect((await fetch(`${base}api/stream`, { headers: { cookie: first } })).status).toBe(401);
    const control = await fetch(`${base}api/control`, {
      method: "POST",
      headers: { origin: new URL(base).origin, cookie: first, "content-type": "application/json" },
      body: "{}",
    });
    expect(control.status).toBe(401);

    // A token change: the dashboard restarted with a new FLAME_DASHBOARD_TOKEN.
    const second = (await postLogin(base, form(TOKEN))).cookie!;
    expect(await sessionStatus(base, second)).toBe(204);
    await terminate(dashboard.child);
    dashboard = await start("rotated-token-81c0");
    base = dashboard.url;
    expect(await sessionStatus(base, second)).toBe(401);
  });
});

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing under CI=true: install Debian's chromium package.`);
}

describe.skipIf(!hasChromium)("dashboard login throttling (issue 22 row 12)", () => {
  it("lets the holder of the right token in while a stranger keeps guessing; guesses cost work", {
    timeout: 240_000,
  }, async () => {
    dashboard = await start(TOKEN);
    const base = dashboard.url;
    // The stranger: wrong tokens as fast as the server answers, until the operator is done.
    let attacking = true;
    let guesses = 0;
    const attack = (async () => {
      while (attacking) {
        const res = await postLogin(base, form(`guess-${guesses++}`));
        expect(res.cookie).toBeUndefined();
      }
    })();
    try {
      while (guesses < 30) await new Promise((resolve) => setTimeout(resolve, 50));
      // The operator, in a browser, types the right token during the attack.
      const profile = mkdtempSync(join(tmpdir(), "flame-dashboard-chromium-"));
      dirs.push(profile);
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
      });
      const page = await browser.newPage();
      await page.goto(`${base}login`);
      await page.getByLabel("Dashboard token").fill(TOKEN);
      const clicked = Date.now();
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL((url) => url.pathname === "/" || url.searchParams.has("error"), {
        timeout: 120_000,
      });
      expect(new URL(page.url()).pathname).toBe("/");
      console.log(
        `row 12: logged in ${Date.now() - clicked} ms after the click, ${guesses} guesses`,
      );
      const cookie = (await browser.cookies()).find((c) => c.name === "flame_session");
      expect(await sessionStatus(base, `flame_session=${cookie?.value}`)).toBe(204);
    } finally {
      attacking = false;
      await attack;
    }

    // Guessing costs work now: even the right token, sent without a proof of work, is not
    // tried (so a guesser learns nothing from such a request)...
    const free = await postLogin(base, form(TOKEN));
    expect(free.cookie).toBeUndefined();
    expect(free.location).toMatch(/^\/login\?error=proof/);
    // ...and with one solved for a fresh challenge, it is.
    const { challenge, bits } = (await (await fetch(`${base}api/login`)).json()) as {
      challenge: string;
      bits: number;
    };
    expect(bits).toBeGreaterThan(0);
    const nonce = solve(challenge, bits);
    expect((await postLogin(base, form(TOKEN, { challenge, nonce }))).cookie).toBeDefined();
  });
});

/** The proof of work a browser does (see lib/login-proof.ts), here with Node's SHA-256. */
function solve(challenge: string, bits: number): string {
  for (let n = 0; ; n++) {
    const digest = createHash("sha256").update(`${challenge}:${n}`).digest();
    let zeros = 0;
    for (const byte of digest) {
      if (byte === 0) {
        zeros += 8;
        continue;
      }
      zeros += Math.clz32(byte) - 24;
      break;
    }
    if (zeros >= bits) return String(n);
  }
}
