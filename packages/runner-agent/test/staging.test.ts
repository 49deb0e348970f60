/**
 * Staged tasks (src/executor/staging.ts): a call queued for a slot is posted ahead of time to a
 * busy thread, which starts it the moment its own task ends, with no hop through the main
 * thread; and the main thread can still take it back exactly. Each scenario runs in a plain
 * node process on the built dist/ (fixtures/staging-run.mjs).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("./fixtures/staging-run.mjs", import.meta.url));

async function scenario(name: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT], {
    env: { ...process.env, SCENARIO: name },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

it("a thread starts the staged call the moment its task ends, while the main thread is blocked", async () => {
  const report = await scenario("handOn");
  expect(report.staged).toBe(true);
  expect(report.startedWhileMainBlocked).toBe(true);
  // The main thread learns of the claim at its next hold, as the driver does before a step.
  expect(report.claimed).toEqual([2]);
  expect(report.answers).toMatchObject({ "2": { threadId: expect.any(Number) } });
});

it("a staged call taken back never runs, and the thread serves the next call", async () => {
  const report = await scenario("withdrawn");
  expect(report).toMatchObject({ staged: true, withdrawn: true, claimed: [], ranB: false });
  expect(Object.keys(report.answers as object).sort()).toEqual(["1", "3"]);
});

it("whichever thread ends first starts the oldest staged call, and the next as that one ends", async () => {
  const report = await scenario("oldestFirst");
  expect(report).toMatchObject({ stagedB1: true, stagedB2: true });
  expect(report.claimedAfterShortTask).toEqual([3]);
  expect(report.claimedLater).toEqual([4]);
  const answers = report.answers as Record<
    string,
    { threadId: number; startedAt: number; endedAt: number }
  >;
  const [long, short, b1, b2] = [answers["1"], answers["2"], answers["3"], answers["4"]];
  // Both ran on the thread that ended first, one after the other, while the long task ran on.
  expect(b1?.threadId).toBe(short?.threadId);
  expect(b2?.threadId).toBe(short?.threadId);
  expect(b1?.startedAt).toBeLessThanOrEqual(b2?.startedAt as number);
  expect(b2?.startedAt).toBeLessThanOrEqual(long?.endedAt as number);
});

it("a thread never starts a staged call ahead of an older one it does not hold", async () => {
  const report = await scenario("fifo");
  expect(report).toMatchObject({ stagedB1: true, stagedB2: true });
  // The short task's thread left B2 alone: B1, staged behind the long task, was older.
  expect(report.claimedAfterShortTask).toEqual([]);
  // B1 ran first (the main thread moved it); B2 then started on its thread's own hand-off.
  expect(report.claimedLater).toEqual([4]);
  const [b1, b2] = report.startOrder as number[];
  expect(b1).toBeLessThanOrEqual(b2 as number);
  expect(Object.keys(report.answers as object).sort()).toEqual(["1", "2", "3", "4"]);
});

it("a staged call its thread took and then died running is reported lost, not left waiting", async () => {
  const report = await scenario("claimedThenCrashed");
  expect(report.staged).toBe(true);
  expect(report.lost).toMatchObject({ "2": expect.stringContaining("thread crashed on purpose") });
});
