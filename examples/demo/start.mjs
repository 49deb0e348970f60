#!/usr/bin/env node
/**
 * `npm start`: a pool of local runners under a bursty CPU-bound load, the telemetry server
 * (token-protected, actions enabled), and the dashboard (its `flame-dashboard` bin on the built
 * app). Prints the URL and the login token; Ctrl-C stops everything and leaves no runner behind.
 *
 * Env: PORT (dashboard, default 3000; 0 = any free port), TELEMETRY_PORT (default 0),
 * DEMO_MAX (max runners, default 4), DEMO_IDLE_MS (idle shutdown, default 5000),
 * FLAME_DASHBOARD_TOKEN (the login token; generated when unset).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { serveTelemetry } from "@flame-ts/pool-core/telemetry";
import { thumbnail } from "./functions.mjs";
import { startBurstyLoad } from "./load.mjs";

const HOST = "127.0.0.1";
const dashboardDir = fileURLToPath(new URL("../../apps/dashboard/", import.meta.url));

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} must be a non-negative integer, got "${raw}"`);
    process.exit(2);
  }
  return value;
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForHttp(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the dashboard exited (code ${child.exitCode})`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the dashboard did not answer at ${url} within ${timeoutMs} ms`);
}

const dashboardBin = `${dashboardDir}bin/flame-dashboard.mjs`;
if (!existsSync(`${dashboardDir}.next/standalone/apps/dashboard/server.js`)) {
  console.error(
    "The dashboard is not built. Run `npm start` (it builds first) or `npm run build`.",
  );
  process.exit(1);
}

const pool = new Pool({
  name: "thumbnails",
  min: 0,
  max: envInt("DEMO_MAX", 4),
  maxConcurrency: 2,
  idleShutdownAfter: envInt("DEMO_IDLE_MS", 5_000),
  shutdownTimeout: 5_000,
  backend: new LocalBackend({ entry: new URL("./functions.mjs", import.meta.url) }),
});
pool.events.subscribe((event) => {
  if (event.type === "runnerUp") {
    console.log(`runner up ${event.runnerId} pid=${event.meta.pid ?? "?"} boot=${event.bootMs}ms`);
  } else if (event.type === "runnerDown") {
    console.log(`runner down ${event.runnerId}: ${event.reason}`);
  }
});
await pool.start();

// The telemetry token stays between this process and the dashboard's server; the browser
// logs in with the dashboard token instead.
const telemetryToken = randomBytes(18).toString("base64url");
const dashboardToken = process.env.FLAME_DASHBOARD_TOKEN || randomBytes(12).toString("base64url");
const telemetry = await serveTelemetry({
  pools: [pool],
  host: HOST,
  port: envInt("TELEMETRY_PORT", 0),
  token: telemetryToken,
  control: true,
});
const port = envInt("PORT", 3000) || (await freePort());
const dashboard = spawn(
  process.execPath,
  [dashboardBin, "--telemetry", telemetry.url, "--host", HOST, "--port", String(port)],
  {
    env: {
      ...process.env,
      FLAME_TELEMETRY_TOKEN: telemetryToken,
      FLAME_DASHBOARD_TOKEN: dashboardToken,
      NEXT_TELEMETRY_DISABLED: "1",
    },
    stdio: ["ignore", "ignore", "inherit"],
  },
);
const load = startBurstyLoad(pool, thumbnail);
dashboard.once("exit", (code) => {
  if (stopping === null) {
    console.error(`The dashboard exited (code ${code}); stopping.`);
    stop("dashboard exit");
  }
});

let stopping = null;
function stop(signal) {
  if (stopping !== null) {
    console.log("Stopping already; a second signal is ignored while runners drain.");
    return;
  }
  console.log(`\n${signal}: stopping the load, the pool and the dashboard…`);
  stopping = (async () => {
    await load.stop();
    await pool.stop();
    await telemetry.close();
    // A terminal's Ctrl-C reaches the whole process group: the dashboard may be gone already.
    if (dashboard.exitCode === null && dashboard.signalCode === null) {
      const exited = new Promise((resolve) => dashboard.once("exit", resolve));
      dashboard.kill("SIGTERM");
      await exited;
    }
    console.log("Stopped: no runner left.");
    process.exit(0);
  })().catch((error) => {
    console.error(error);
    dashboard.kill("SIGKILL");
    process.exit(1);
  });
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

const url = `http://${HOST}:${port}/`;
try {
  await waitForHttp(url, dashboard, 60_000);
} catch (error) {
  console.error(error.message);
  stop("error");
}
if (stopping === null) {
  console.log(`\nflame-ts demo: pool "thumbnails" under a bursty load.`);
  console.log(`Telemetry: ${telemetry.url}`);
  console.log(`Dashboard: ${url}   (Ctrl-C to stop)`);
  console.log(`Dashboard token: ${dashboardToken}   (log in with it)\n`);
}
