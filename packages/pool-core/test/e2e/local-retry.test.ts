/**
 * Issue 24: opt-in retries on infrastructure loss, end to end on LocalBackend. A runner process
 * killed mid-call (SIGKILL, as a spot reclaim or an OOM kill would) costs an idempotent call
 * nothing but a retry; a function that throws, or a call whose runner answered, never runs twice.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { PoolEvent } from "../../src/index.js";
import { countAndHang, countAndThrow, loseRunnerOnce } from "./fixtures/flame-semantics.mjs";
import { codeOf, localPool } from "./helpers.js";

const entry = new URL("./fixtures/flame-semantics.mjs", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "flame-retry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let markers = 0;
const marker = (): string => join(dir, `marker-${++markers}`);
const runs = (path: string): number => readFileSync(path, "utf8").trim().split("\n").length;

function recorded(pool: ReturnType<typeof localPool>): PoolEvent[] {
  const events: PoolEvent[] = [];
  pool.events.subscribe((event) => {
    events.push(event);
  });
  return events;
}

describe("retry: { runnerDown } on LocalBackend", () => {
  it("a runner killed mid-call: the caller gets the result of the retry on another runner", async () => {
    const pool = localPool({ entry, retry: { runnerDown: 1, backoffMs: 0 } });
    const events = recorded(pool);
    const path = marker();
    const [lost, answered] = await pool.call(loseRunnerOnce, { marker: path });
    expect(lost).toMatch(/\S/);
    expect(answered).not.toBe(lost);
    const retries = events.filter((e) => e.type === "callRetry");
    expect(retries).toEqual([
      expect.objectContaining({ fn: "issue24.loseRunnerOnce", runnerId: lost, attempt: 1 }),
    ]);
  });

  it("without the option a runner loss is RUNNER_DOWN (FLAME's behaviour)", async () => {
    const pool = localPool({ entry });
    const path = marker();
    expect(await codeOf(pool.call(loseRunnerOnce, { marker: path }))).toBe("RUNNER_DOWN");
    expect(runs(path)).toBe(1);
  });

  it("a call's own retry option overrides the pool's ({ runnerDown: 0 } turns it off)", async () => {
    const pool = localPool({ entry, retry: { runnerDown: 2, backoffMs: 0 } });
    const path = marker();
    const call = pool.call(loseRunnerOnce, { marker: path }, { retry: { runnerDown: 0 } });
    expect(await codeOf(call)).toBe("RUNNER_DOWN");
  });

  it("a function that throws is not retried", async () => {
    const pool = localPool({ entry, retry: { runnerDown: 3, backoffMs: 0 } });
    const events = recorded(pool);
    const path = marker();
    expect(await codeOf(pool.call(countAndThrow, { marker: path }))).toBe("REMOTE_ERROR");
    expect(runs(path)).toBe(1);
    expect(events.some((e) => e.type === "callRetry")).toBe(false);
  });

  it("a call whose runner answered (ABORTED, slot held) is not run again when that runner dies", async () => {
    const pool = localPool({ entry, retry: { runnerDown: 3, backoffMs: 0 } });
    const events = recorded(pool);
    const path = marker();
    const abort = new AbortController();
    const call = pool.call(countAndHang, { marker: path }, { signal: abort.signal });
    await vi.waitFor(() => expect(runs(path)).toBe(1), { timeout: 15_000, interval: 50 });
    abort.abort();
    expect(await codeOf(call)).toBe("ABORTED");
    const runnerId = pool.snapshot().runners[0]?.id as string;
    expect(pool.killRunner(runnerId)).toBe(true);
    // The core decides in the step that removes the runner (its `shrink`): a retry would be
    // reported before that event.
    await vi.waitFor(
      () => expect(events.some((e) => e.type === "shrink" && e.runnerId === runnerId)).toBe(true),
      { timeout: 15_000, interval: 50 },
    );
    expect(events.some((e) => e.type === "callRetry")).toBe(false);
    expect(runs(path)).toBe(1);
  });
});
