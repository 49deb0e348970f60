/**
 * `bench:profile` never rots either: a short run in each load it offers must finish and print,
 * for both sides, the rates and the CPU per call of every process it measured. No timing is
 * asserted: what it prints is for a person reading a profile.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { exitOf, killAndWait } from "../src/processes.js";

const benchDir = fileURLToPath(new URL("..", import.meta.url));
/** Generous: a run takes ~10 s, but other engineers load the same 2 cores. */
const PROFILE_TIMEOUT_MS = 120_000;

describe("bench:profile", () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    if (child) await killAndWait(child, 5_000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function profile(args: readonly string[]): Promise<{ exit: unknown; output: string }> {
    let output = "";
    child = spawn(process.execPath, ["--import", "tsx", "profile.ts", ...args], {
      cwd: benchDir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    return { exit: await exitOf(child), output };
  }

  /**
   * A half-second run at concurrency 2 with `args`, into a fresh `dir`: it must exit 0 and
   * print a positive rate for both sides. Returns what it printed, and where.
   */
  async function shortRun(args: readonly string[]): Promise<{ output: string; into: string }> {
    const into = await mkdtemp(join(tmpdir(), "flame-bench-profile-"));
    dir = into;
    const { exit, output } = await profile([
      "--seconds",
      "0.5",
      "--concurrency",
      "2",
      ...args,
      "--dir",
      into,
    ]);
    expect(exit, output).toEqual({ code: 0, signal: null });
    const rates = /raw ws\+v8: (\d+) calls\/s · flame-ts: (\d+) calls\/s/.exec(output);
    expect(rates, output).not.toBeNull();
    expect(Number(rates?.[1]), output).toBeGreaterThan(0);
    expect(Number(rates?.[2]), output).toBeGreaterThan(0);
    return { output, into };
  }

  it(
    "--iterations loads both sides with the CPU-bound task and prints each process's CPU per call",
    async () => {
      const { output, into } = await shortRun(["--iterations", "20000"]);
      expect(output).toContain("CPU-bound task of 20000 iterations");
      for (const side of ["raw-parent", "floor-parent", "flame-parent"]) {
        expect(output).toMatch(new RegExp(`${side}: CPU per call`));
        expect(output).toMatch(new RegExp(`${side} peer: CPU per call`));
      }
      // The CPU-bound work ran in the runner's worker threads, so their profiles show it (as
      // `work` or `stampedWork`, whichever V8 inlined into the other).
      const workerSections = output
        .split("\n== ")
        .filter((section) => section.startsWith("flame-ts runner-agent worker thread"));
      expect(workerSections.length, output).toBeGreaterThan(0);
      expect(
        workerSections.some((section) => /\(bench\/fixtures\/(stamped-)?work\.mjs:/.test(section)),
        output,
      ).toBe(true);
      expect(await readdir(into)).toEqual(
        expect.arrayContaining(["raw-parent", "floor-parent", "flame-parent", "runner"]),
      );
    },
    PROFILE_TIMEOUT_MS,
  );

  it(
    "--bytes with --echo sends the bytes and takes them back as the result",
    async () => {
      const { output } = await shortRun(["--bytes", "2048", "--echo"]);
      expect(output).toContain("2048-byte args and result");
    },
    PROFILE_TIMEOUT_MS,
  );

  it("refuses --echo without --bytes, saying what it needs", async () => {
    dir = await mkdtemp(join(tmpdir(), "flame-bench-profile-"));
    const { exit, output } = await profile(["--echo", "--dir", dir]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain("--echo sends the --bytes argument back as the result");
  });

  it("refuses an --iterations that is not a positive integer, naming the option", async () => {
    dir = await mkdtemp(join(tmpdir(), "flame-bench-profile-"));
    const { exit, output } = await profile(["--iterations", "0", "--dir", dir]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(output).toContain("--iterations must be a positive integer, got 0");
  });
});
