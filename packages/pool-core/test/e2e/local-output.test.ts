/**
 * LocalBackend runners as a user sees them from the parent: their output goes through the
 * pool's `log` (never straight onto the parent's stderr), and a TypeScript parent's runners
 * load `.ts` entries with the parent's own loader.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";
import { LocalBackend, type LogLevel, Pool } from "../../src/index.js";
import { loaderFlags } from "../../src/local/loader-flags.js";
import { levelOf } from "../../src/local/runner-output.js";
import { chatty } from "../fixtures/chatty-functions.mjs";

const run = promisify(execFile);
const fixtures = new URL("../fixtures/", import.meta.url);
const chattyEntry = new URL("chatty-functions.mjs", fixtures);
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

interface Logged {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

describe("LocalBackend runner output", () => {
  it("a pool with log: false leaves the parent's stderr empty, stops included", async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [fileURLToPath(new URL("quiet-parent.mjs", fixtures))],
      { timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ length: 5 });
    expect(stderr).toBe("");
  });

  it("goes to the pool's log: function output at info, the agent's own lines at debug", async () => {
    const logged: Logged[] = [];
    const pool = new Pool({
      name: "chatty",
      max: 1,
      log: (level, message, fields) => logged.push({ level, message, fields }),
      backend: new LocalBackend({ entry: chattyEntry }),
    });
    onTestFinished(() => pool.stop());
    expect(await pool.call(chatty, { text: "hi" })).toBe(2);
    await pool.stop();
    const runnerId = pool.snapshot().runners[0]?.id;
    const fromRunner = logged.filter((l) => l.fields?.stream !== undefined);
    expect(fromRunner).toContainEqual({
      level: "info",
      message: "stdout: hi",
      fields: expect.objectContaining({ stream: "stdout" }),
    });
    expect(fromRunner).toContainEqual({
      level: "info",
      message: "stderr: hi",
      fields: expect.objectContaining({ stream: "stderr" }),
    });
    // Function output comes through the runner's worker threads, so it may land after the
    // agent's own final line: find that line rather than assuming it is last.
    const final = fromRunner.find((l) => /^flame-runner: asked to shut down/.test(l.message));
    expect(final?.level).toBe("debug");
    const ids = new Set(fromRunner.map((l) => l.fields?.runnerId));
    expect(ids.size).toBe(1);
    if (runnerId !== undefined) expect(ids.has(runnerId)).toBe(true);
  });

  it("LocalBackend's own log hook takes the lines instead of the pool's log", async () => {
    const poolLines: string[] = [];
    const backendLines: string[] = [];
    const pool = new Pool({
      name: "hooked",
      max: 1,
      log: (_level, message) => poolLines.push(message),
      backend: new LocalBackend({
        entry: chattyEntry,
        log: (_level, message) => backendLines.push(message),
      }),
    });
    onTestFinished(() => pool.stop());
    await pool.call(chatty, { text: "hook" });
    await pool.stop();
    expect(backendLines).toContain("stdout: hook");
    expect(poolLines).not.toContain("stdout: hook");
  });

  it("levelOf: the agent's lines are debug, anything else info", () => {
    expect(levelOf("flame-runner: idle for 30000 ms")).toBe("debug");
    expect(levelOf("flame-runner[debug]: dialing")).toBe("debug");
    expect(levelOf("resized 3 images")).toBe("info");
  });

  it("rejects a log option that is not a function, naming it", () => {
    expect(() => new LocalBackend({ entry: chattyEntry, log: "info" as never })).toThrow(/`log`/);
    expect(() => new LocalBackend({ entry: chattyEntry, inheritLoaders: 1 as never })).toThrow(
      /`inheritLoaders`/,
    );
  });
});

describe("LocalBackend with a TypeScript parent", () => {
  const app = fileURLToPath(new URL("ts-app/app.ts", fixtures));

  it("runners load the .ts entry with the parent's loader (node --import tsx app.ts)", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", app], {
      cwd: repoRoot,
      timeout: 60_000,
    });
    expect(JSON.parse(stdout)).toEqual({ out: "TYPESCRIPT!" });
  });

  it("with inheritLoaders: false the runner cannot load it, and the error says why", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", app, "no-loaders"], {
      cwd: repoRoot,
      timeout: 60_000,
    });
    const { error, warnings } = JSON.parse(stdout) as { error: string; warnings: string[] };
    // A runner that exits 1 before its hello is a permanent boot failure: the caller gets
    // BOOT_FAILED with the cause at once, not a timeout.
    expect(error).toMatch(/could not load entry .*functions\.ts/);
    expect(warnings.join("\n")).toMatch(/could not load entry .*functions\.ts/);
  });

  it("loaderFlags keeps --import/--require/--loader and type stripping, drops the rest", () => {
    expect(
      loaderFlags([
        "--require",
        "/tsx/preflight.cjs",
        "--import",
        "file:///tsx/loader.mjs",
        "--conditions",
        "source",
        "--inspect=9229",
        "--import=tsx",
        "-r",
        "dotenv/config",
        "--max-old-space-size=512",
        "--experimental-strip-types",
        "--experimental-loader",
        "ts-node/esm",
      ]),
    ).toEqual([
      "--require",
      "/tsx/preflight.cjs",
      "--import",
      "file:///tsx/loader.mjs",
      "--import=tsx",
      "-r",
      "dotenv/config",
      "--experimental-strip-types",
      "--experimental-loader",
      "ts-node/esm",
    ]);
  });
});
