/** Processes and waits shared by the dashboard's browser test. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const dashboardDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
export const artifactsDir = `${repoRoot}test-artifacts`;
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
  if (existsSync(`${dashboardDir}.next/BUILD_ID`)) return;
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
    {
      cwd: repoRoot,
      stdio: "inherit",
    },
  );
  if (built.status !== 0)
    throw new Error("building the dashboard failed (npm run build -w @flame-ts/dashboard)");
}

/** `next start` of the built dashboard in its own process group. */
export function startNext(port: number, telemetryUrl: string): ChildProcess {
  const nextBin = createRequire(import.meta.url).resolve("next/dist/bin/next");
  return spawn(process.execPath, [nextBin, "start", "-H", "127.0.0.1", "-p", String(port)], {
    cwd: dashboardDir,
    env: { ...process.env, FLAME_TELEMETRY_URL: telemetryUrl, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
}

/** SIGTERM the process group, SIGKILL after a bound; resolves once the leader exited. */
export async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
