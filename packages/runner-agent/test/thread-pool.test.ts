/**
 * The thread pool as the agent's bin uses it: the first thread is started before the agent
 * has loaded (startFirstThread), and the pool adopts it later. The scenario runs in a plain
 * node process on the built dist/ (fixtures/first-thread-exits-run.mjs).
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("./fixtures/first-thread-exits-run.mjs", import.meta.url));

async function runScenario(end: "exit" | "throw"): Promise<Record<string, unknown>> {
  const marker = join(mkdtempSync(join(tmpdir(), "flame-first-")), "marker");
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT], {
    env: { ...process.env, FIRST_THREAD_MARKER: marker, FIRST_THREAD_END: end },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

const SERVED = {
  answer: { ok: true, msg: { t: "result", id: 1, ok: true, value: "served by the replacement" } },
};

it("a first thread that exits before the pool adopts it is replaced, and calls are served", async () => {
  const report = await runScenario("exit");
  expect(report.functions).toContain("echo");
  expect(report.exitCode).toBe(7);
  expect(report).toMatchObject(SERVED);
  // Its end was recorded before the adoption and reported once, with its cause.
  expect(report.debug).toEqual(["worker thread exited with code 7; starting a replacement"]);
});

it("a first thread that crashes before the pool adopts it is replaced, its cause kept", async () => {
  const report = await runScenario("throw");
  expect(report.exitCode).toBe(1);
  expect(report).toMatchObject(SERVED);
  expect(report.debug).toEqual([
    "worker thread crashed: first thread crashed on purpose; starting a replacement",
  ]);
});

const ON_DEMAND = fileURLToPath(new URL("./fixtures/threads-on-demand-run.mjs", import.meta.url));

async function runOnDemand(scenario: "sequential" | "together" | "idle"): Promise<{
  counts: Record<string, number>;
  answers: Record<string, unknown>;
}> {
  const { stdout } = await promisify(execFile)(process.execPath, [ON_DEMAND], {
    env: { ...process.env, SCENARIO: scenario },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim());
}

it("starts the threads beyond the first once the first answer has left, not beside the first call", async () => {
  const { counts, answers } = await runOnDemand("sequential");
  expect(counts).toEqual({ afterStart: 1, whileFirstRuns: 1, afterFirstAnswer: 2 });
  // Both calls were served (the second by whichever thread was least loaded).
  expect(typeof answers["1"]).toBe("number");
  expect(typeof answers["2"]).toBe("number");
});

it("starts them at once when a task finds every started thread busy, and runs it on a new one", async () => {
  const { counts, answers } = await runOnDemand("together");
  expect(counts).toEqual({ afterStart: 1, afterTwoRuns: 2 });
  expect(typeof answers["1"]).toBe("number");
  expect(answers["2"]).not.toBe(answers["1"]);
});

it("starts them on a runner that gets no call, so a runner kept warm by min is ready for a burst", async () => {
  const { counts } = await runOnDemand("idle");
  expect(counts).toEqual({ afterStart: 1, idle: 2 });
});
