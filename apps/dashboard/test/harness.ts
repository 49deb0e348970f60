/** Processes, installs and waits shared by the dashboard's browser tests. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Pool } from "@flame-ts/pool-core";
import type { TelemetryServer } from "@flame-ts/pool-core/telemetry";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterEach, expect } from "vitest";

export const dashboardDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const artifactsDir = `${repoRoot}test-artifacts`;
export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Builds the dashboard when `npm test`'s build step has not (standalone runs). */
export function ensureDashboardBuilt(): void {
  if (existsSync(`${dashboardDir}.next/standalone/apps/dashboard/server.js`)) return;
  const built = spawnSync(
    "npm",
    [
      "run",
      "build",
      "-w",
      "@flame-ts/pool-core",
      "-w",
      "@flame-ts/runner-agent",
      "-w",
      "@flame-ts/dashboard",
    ],
    { cwd: repoRoot, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } },
  );
  if (built.status !== 0)
    throw new Error("building the dashboard failed (npm run build -w @flame-ts/dashboard)");
}

/**
 * Packs the dashboard as npm would publish it and installs the tarball into a fresh project
 * (offline: the package carries everything it runs). Returns the installed bin's path.
 */
export function installPackedDashboard(): { bin: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "flame-dashboard-install-"));
  const packed = spawnSync("npm", ["pack", "--silent", "--pack-destination", dir], {
    cwd: dashboardDir,
    encoding: "utf8",
  });
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (tarball === undefined) throw new Error("npm pack wrote no tarball");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user-app", private: true }));
  const installed = spawnSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", `./${tarball}`],
    { cwd: dir, encoding: "utf8" },
  );
  if (installed.status !== 0)
    throw new Error(`npm install of the tarball failed: ${installed.stderr}`);
  const bin = join(dir, "node_modules", ".bin", "flame-dashboard");
  if (!existsSync(bin)) throw new Error(`the package installed no flame-dashboard bin in ${dir}`);
  return { bin, dir };
}

export interface StartedDashboard {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
}

/** Starts a flame-dashboard bin as a user would and waits until it answers HTTP. */
export async function startDashboard(
  bin: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<StartedDashboard> {
  const port = await freePort();
  const child = spawn(bin, [...args, "--port", String(port)], {
    env: { ...process.env, ...env, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}/`;
  await expect
    .poll(
      async () => {
        if (child.exitCode !== null) throw new Error(`flame-dashboard exited: ${output}`);
        return fetch(`${url}login`).then(
          (res) => res.ok,
          () => false,
        );
      },
      { timeout: 60_000, message: `flame-dashboard at ${url}` },
    )
    .toBe(true);
  return { child, url, output: () => output };
}

/** SIGTERM, then (only if it hangs past a bound) SIGKILL; resolves with how it ended. */
export async function terminate(
  child: ChildProcess,
): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, signal: child.signalCode };
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

/** True while something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Pids of live processes running from inside `dir` (their cwd, or their command line: the
 * dashboard's server renames its process title, so the cwd it moves to is the reliable sign).
 */
export function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cwd.startsWith(dir) || cmdline.includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Pids of live processes started with `name=value` in their environment (a test's marker). */
export function processesWithEnv(name: string, value: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`${name}=${value}`)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Logs in through the form, as a user would. */
export async function logIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}login`);
  await page.getByLabel("Dashboard token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(baseUrl);
}

/** Pids of every live descendant of `pid` (from /proc/<pid>/stat's ppid field). */
export function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether Chromium is installed; under CI=true its absence is an error, not a skip. */
export function chromiumPresent(what: string): boolean {
  const present = existsSync(CHROMIUM);
  if (!present && process.env.CI === "true") {
    throw new Error(`${CHROMIUM} is missing under CI=true: install Debian's chromium package.`);
  }
  if (!present) console.warn(`skipping ${what}: ${CHROMIUM} not found`);
  return present;
}

/** What one browser test started; `useBrowserRun` closes it after the test. */
export interface BrowserRun {
  pool: Pool | null;
  telemetry: TelemetryServer | null;
  dashboard: StartedDashboard | null;
  browser: BrowserContext | null;
  /** Removed last (installs, browser profiles). */
  readonly dirs: string[];
}

/**
 * The run a browser test fills in, and the afterEach that closes it: the browser, the
 * dashboard (SIGTERM), the telemetry server, the pool, then the directories.
 */
export function useBrowserRun(): BrowserRun {
  const run: BrowserRun = { pool: null, telemetry: null, dashboard: null, browser: null, dirs: [] };
  afterEach(async () => {
    await run.browser?.close();
    if (run.dashboard !== null) await terminate(run.dashboard.child);
    await run.telemetry?.close();
    await run.pool?.stop();
    for (const dir of run.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return run;
}

/** Launches headless Chromium with a fresh profile (removed after the test) into `run`. */
export async function launchChromium(
  run: BrowserRun,
  viewport: { width: number; height: number },
): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), "flame-dashboard-chromium-"));
  run.dirs.push(profile);
  run.browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return run.browser;
}

/** Where the browser tests save their screenshots (created on first use). */
export function mkArtifacts(): string {
  mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

/** Every row of the runners table. */
export function runnerRows(page: Page) {
  return page.locator('[data-testid="runner-row"]');
}

/** The runners table's row of runner `id`. */
export function runnerRow(page: Page, id: string) {
  return page.locator(`[data-testid="runner-row"][data-runner="${id}"]`);
}
