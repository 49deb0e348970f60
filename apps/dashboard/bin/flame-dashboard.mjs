#!/usr/bin/env node
/**
 * flame-dashboard: serves the built dashboard (Next.js standalone server, in this process) for
 * one or more telemetry endpoints.
 *
 *   npx flame-dashboard --telemetry ws://HOST:PORT [--telemetry ws://…] [--host 127.0.0.1] [--port 3000]
 *
 * Env: FLAME_TELEMETRY_TOKEN (the endpoints' token; kept on this server, never sent to the
 * browser), FLAME_DASHBOARD_TOKEN (what a browser user types to log in; generated and printed
 * when unset), FLAME_TELEMETRY_URL (endpoints when no --telemetry is given).
 * SIGTERM / SIGINT close the server and exit; it starts no other process.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const USAGE = `Usage: flame-dashboard --telemetry ws://HOST:PORT [options]

  --telemetry, -t URL   a telemetry endpoint (serveTelemetry); repeat it or comma-separate
  --host, -H ADDR       interface to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  --port, -p PORT       port to listen on (default 3000; 0 = any free port)
  --help, -h            this text

Environment:
  FLAME_TELEMETRY_TOKEN   the telemetry server's token (stays on this server)
  FLAME_DASHBOARD_TOKEN   the token a browser user must type to log in (printed if generated)
`;

function fail(message) {
  console.error(`flame-dashboard: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      telemetry: { type: "string", short: "t", multiple: true },
      host: { type: "string", short: "H" },
      port: { type: "string", short: "p" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  });
} catch (error) {
  fail(error.message);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}

const raw =
  parsed.values.telemetry ??
  (process.env.FLAME_TELEMETRY_URL ? [process.env.FLAME_TELEMETRY_URL] : []);
const endpoints = raw
  .flatMap((value) => value.split(","))
  .map((v) => v.trim())
  .filter((v) => v.length > 0);
if (endpoints.length === 0) fail("no telemetry endpoint: pass --telemetry ws://HOST:PORT");
for (const endpoint of endpoints) {
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    fail(`--telemetry "${endpoint}" is not a URL (expected ws://HOST:PORT or wss://HOST:PORT)`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    fail(`--telemetry "${endpoint}" must start with ws:// or wss://`);
  }
}
const host = parsed.values.host ?? "127.0.0.1";
const portText = parsed.values.port ?? process.env.PORT ?? "3000";
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65_535)
  fail(`--port "${portText}" must be 0–65535`);

const here = fileURLToPath(new URL("..", import.meta.url));
const server = [
  `${here}.next/standalone/apps/dashboard/server.js`,
  `${here}.next/standalone/server.js`,
].find((path) => existsSync(path));
if (server === undefined) {
  console.error(
    "flame-dashboard: the built app is missing (.next/standalone). In the flame-ts repository run `npm run build -w @flame-ts/dashboard`.",
  );
  process.exit(1);
}

async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, host, resolve));
  const { port: free } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return free;
}

let dashboardToken = process.env.FLAME_DASHBOARD_TOKEN;
const generated = dashboardToken === undefined || dashboardToken === "";
if (generated) dashboardToken = randomBytes(18).toString("base64url");

const listenPort = port === 0 ? await freePort() : port;
Object.assign(process.env, {
  FLAME_TELEMETRY_URL: endpoints.join(","),
  FLAME_DASHBOARD_TOKEN: dashboardToken,
  PORT: String(listenPort),
  HOSTNAME: host,
  NODE_ENV: "production",
  NEXT_TELEMETRY_DISABLED: "1",
});
const shown = host.includes(":") ? `[${host}]` : host;
console.log(
  `flame-dashboard: http://${shown}:${listenPort}/ watching ${endpoints.map(redact).join(", ")}`,
);
if (generated)
  console.log(
    `flame-dashboard: log in with token ${dashboardToken} (set FLAME_DASHBOARD_TOKEN to choose one)`,
  );

// Started through a wrapper (`npm start`, `npx`: npm → sh → node), a SIGTERM to npm kills the
// shell but never reaches this process. Once our parent is gone we are an orphan nobody will
// stop: treat it as a SIGTERM.
const parentAtStart = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parentAtStart) {
    clearInterval(parentWatch);
    process.kill(process.pid, "SIGTERM");
  }
}, 500);
parentWatch.unref();

// Next's standalone server handles SIGTERM/SIGINT itself: it stops listening, waits for open
// requests (the dashboard ends its event streams on the same signals) and exits. A browser
// that holds a kept-alive connection could make that wait long: exit within a bound anyway.
const EXIT_WITHIN_MS = 5_000;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    setTimeout(() => process.exit(signal === "SIGTERM" ? 143 : 130), EXIT_WITHIN_MS).unref();
  });
}
await import(pathToFileURL(server).href);

function redact(endpoint) {
  const url = new URL(endpoint);
  if (url.searchParams.has("token")) url.searchParams.set("token", "…");
  url.username = "";
  url.password = "";
  return url.toString();
}
