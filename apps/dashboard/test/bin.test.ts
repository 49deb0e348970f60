/**
 * The flame-dashboard bin as a process: its flags, and that stopping whatever started it
 * (here `npm start`, i.e. npm → sh → node) leaves no dashboard process and no listener.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  dashboardDir,
  ensureDashboardBuilt,
  freePort,
  listening,
  processesWithEnv,
} from "./harness.js";

const bin = join(dashboardDir, "bin", "flame-dashboard.mjs");
const standalone = join(dashboardDir, ".next", "standalone");

describe("flame-dashboard bin", () => {
  it("explains bad flags and exits 2", () => {
    const none = spawnSync(process.execPath, [bin], {
      encoding: "utf8",
      env: { ...process.env, FLAME_TELEMETRY_URL: "" },
    });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no telemetry endpoint: pass --telemetry ws:\/\/HOST:PORT/);
    const http = spawnSync(process.execPath, [bin, "--telemetry", "http://x:1"], {
      encoding: "utf8",
    });
    expect(http.status).toBe(2);
    expect(http.stderr).toMatch(/must start with ws:\/\/ or wss:\/\//);
    const port = spawnSync(process.execPath, [bin, "--telemetry", "ws://x:1", "--port", "99999"], {
      encoding: "utf8",
    });
    expect(port.status).toBe(2);
    expect(port.stderr).toMatch(/--port "99999" must be 0–65535/);
    const help = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/FLAME_DASHBOARD_TOKEN/);
  });

  it("SIGTERM to `npm start` stops the dashboard it started: no process, no listener", {
    timeout: 120_000,
  }, async () => {
    ensureDashboardBuilt();
    expect(existsSync(standalone)).toBe(true);
    const port = await freePort();
    // Marks every process this test starts (npm, sh, the dashboard), and only those.
    const mark = randomUUID();
    const ours = () => processesWithEnv("FLAME_TEST_MARK", mark).filter((pid) => pid !== npm.pid);
    const npm = spawn("npm", ["start", "-w", "@flame-ts/dashboard", "--", "--port", String(port)], {
      cwd: join(dashboardDir, "..", ".."),
      env: {
        ...process.env,
        FLAME_TELEMETRY_URL: "ws://127.0.0.1:9/",
        FLAME_DASHBOARD_TOKEN: "t",
        NEXT_TELEMETRY_DISABLED: "1",
        FLAME_TEST_MARK: mark,
      },
      stdio: "ignore",
    });
    const npmExited = new Promise<void>((resolve) => npm.once("exit", () => resolve()));
    try {
      await expect
        .poll(
          () =>
            fetch(`http://127.0.0.1:${port}/login`).then(
              (res) => res.ok,
              () => false,
            ),
          { timeout: 60_000, message: "the dashboard to answer" },
        )
        .toBe(true);
      expect(ours().length).toBeGreaterThan(0);
      npm.kill("SIGTERM");
      await npmExited;
      await expect
        .poll(async () => !(await listening(port)), {
          timeout: 20_000,
          message: "the dashboard's port to close",
        })
        .toBe(true);
      await expect
        .poll(() => ours().length === 0, { timeout: 20_000, message: "no dashboard process left" })
        .toBe(true);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill("SIGKILL");
      for (const pid of ours()) process.kill(pid, "SIGKILL");
    }
  });
});
