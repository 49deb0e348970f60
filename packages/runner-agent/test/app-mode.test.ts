/**
 * Single-image mode: `flame-runner --entry <functions> --app <app>` is one image's only
 * command. With FLAME_PARENT it serves as a runner; without, the app runs in this very
 * process, with its signals and exit code its own.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { chooseRole } from "../src/app-mode.js";
import {
  AGENT_BIN,
  AgentProcess,
  descriptor,
  FUNCTIONS_FIXTURE,
  killAllAgents,
} from "./agent-process.js";
import { FakeParent } from "./fake-parent.js";

const APP = fileURLToPath(new URL("./fixtures/app.mjs", import.meta.url));
const BROKEN_APP = fileURLToPath(new URL("./fixtures/broken-app.mjs", import.meta.url));

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("chooseRole", () => {
  it("is a runner whenever FLAME_PARENT is set, the app otherwise", () => {
    expect(chooseRole("dist/server.js", "eyJ1cmwiOi")).toEqual({ kind: "runner" });
    expect(chooseRole("dist/server.js", undefined)).toEqual({ kind: "app", app: "dist/server.js" });
    expect(chooseRole("dist/server.js", "")).toEqual({ kind: "app", app: "dist/server.js" });
    expect(chooseRole(undefined, undefined)).toEqual({ kind: "runner" });
    expect(chooseRole("", undefined)).toEqual({ kind: "runner" });
  });
});

describe("flame-runner --app", () => {
  it("without FLAME_PARENT runs the app in the same process, its signals and exit code its own", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.FLAME_PARENT;
    const child = spawn(process.execPath, [AGENT_BIN, "--entry", FUNCTIONS_FIXTURE, "--app", APP], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const ended = new Promise<number | null>((resolve) => child.once("close", resolve));
    const report = await new Promise<string>((resolve, reject) => {
      const check = () => {
        if (stdout.includes("\n")) resolve(stdout.split("\n")[0] ?? "");
      };
      child.stdout.on("data", check);
      child.once("close", () => reject(new Error(`app ended before reporting: ${stderr}`)));
    });
    // No wrapper process, no handler of ours in the way.
    expect(JSON.parse(report)).toEqual({
      pid: child.pid,
      sigtermListeners: 0,
      uncaughtListeners: 0,
    });
    child.kill("SIGTERM");
    expect(await ended).toBe(42);
    expect(stdout).toContain("app: SIGTERM");
    expect(stderr).toBe("");
  });

  it("FLAME_APP works like --app", async () => {
    const end = await new AgentProcess({ FLAME_PARENT: "", FLAME_APP: BROKEN_APP }, []).exit();
    expect(end.code).toBe(1);
    expect(end.lastLine).toMatch(
      /^flame-runner: could not load app file:.*broken-app\.mjs: app config missing: DATABASE_URL$/,
    );
  });

  it("exits 1 naming the app when the app module fails to load", async () => {
    const end = await new AgentProcess({ FLAME_PARENT: "" }, [
      "--entry",
      FUNCTIONS_FIXTURE,
      "--app",
      BROKEN_APP,
    ]).exit();
    expect(end.code).toBe(1);
    expect(end.stderr).toContain("app config missing: DATABASE_URL");
    expect(end.lastLine).toContain("flame-runner: could not load app");
  });

  it("with FLAME_PARENT serves as a runner and never loads the app", async () => {
    const parent = await FakeParent.listen();
    cleanups.push(() => parent.close());
    const agent = AgentProcess.start(descriptor(parent), [
      "--entry",
      FUNCTIONS_FIXTURE,
      "--app",
      BROKEN_APP,
    ]);
    await parent.connected;
    agent.child.kill("SIGTERM");
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.stderr).not.toContain("app config missing");
    expect(end.lastLine).toBe("flame-runner: stopped by SIGTERM");
  });
});
