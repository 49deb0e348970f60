/**
 * `npm start`'s demo as a user runs it: start it, wait for its URL, see the dashboard answer
 * and runners appear, press Ctrl-C (SIGINT), and check that every runner process is gone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const startScript = fileURLToPath(new URL("../demo/start.mjs", import.meta.url));
const dashboardBuilt = existsSync(
  fileURLToPath(new URL("../../apps/dashboard/.next/BUILD_ID", import.meta.url)),
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

describe("npm start demo", () => {
  let demo: ChildProcess | null = null;
  const runnerPids = new Set<number>();
  afterEach(() => {
    // Last resort if an assertion failed mid-way: end the demo's whole process group.
    if (demo?.pid !== undefined && demo.exitCode === null && demo.signalCode === null) {
      try {
        process.kill(-demo.pid, "SIGKILL");
      } catch {}
    }
    for (const pid of runnerPids) {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  it("serves the dashboard, grows runners, and leaves none after Ctrl-C", {
    timeout: 180_000,
  }, async () => {
    // `npm test` builds every workspace first (pretest); a bare vitest run may not have.
    expect(dashboardBuilt, "run `npm run build` first: the demo serves the built dashboard").toBe(
      true,
    );
    let out = "";
    demo = spawn(process.execPath, [startScript], {
      env: { ...process.env, PORT: "0", DEMO_IDLE_MS: "3000" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const exited = new Promise<number | null>((resolve) =>
      demo!.once("exit", (code) => resolve(code)),
    );
    demo.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      for (const match of out.matchAll(/runner up \S+ pid=(\d+)/g))
        runnerPids.add(Number(match[1]));
    });
    let err = "";
    demo.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });

    await expect
      .poll(
        () => {
          if (demo?.exitCode !== null) throw new Error(`the demo exited early:\n${out}\n${err}`);
          return /Dashboard: http:\/\/127\.0\.0\.1:\d+\//.test(out);
        },
        { timeout: 90_000, message: "the demo to print its dashboard URL" },
      )
      .toBe(true);
    const url = /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1]!;
    const telemetryUrl = /Telemetry: (ws:\/\/\S+)/.exec(out)?.[1];
    expect(telemetryUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("flame-ts");

    // The bursty load grows the pool past one runner.
    await expect
      .poll(() => runnerPids.size >= 2, { timeout: 60_000, message: "at least 2 runners" })
      .toBe(true);
    for (const pid of runnerPids) expect(alive(pid)).toBe(true);

    // What a terminal's Ctrl-C does: SIGINT to the whole foreground process group.
    process.kill(-demo.pid!, "SIGINT");
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`the demo did not exit after SIGINT:\n${out}`)), 60_000),
      ),
    ]);
    expect(code).toBe(0);
    expect(out).toContain("Stopped: no runner left.");
    await expect
      .poll(() => [...runnerPids].every((pid) => !alive(pid)), {
        timeout: 10_000,
        message: "every runner to be gone",
      })
      .toBe(true);
  });
});
