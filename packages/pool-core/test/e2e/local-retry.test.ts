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
import {
  countAndHang,
  countAndThrow,
  loseRunnerOnce,
  loseRunnerOnceKeyed,
  ownKey,
} from "./fixtures/flame-semantics.mjs";
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.each(["threads", "inline"] as const)("ctx.idempotencyKey and ctx.attempt (%s)", (mode) => {
  const execution = { mode };

  it("a runner killed mid-call: the retry sees the first attempt's key, and attempt 2", async () => {
    const pool = localPool({ entry, execution, retry: { runnerDown: 1, backoffMs: 0 } });
    const [first, retry] = await pool.call(loseRunnerOnceKeyed, { marker: marker() });
    expect(first?.attempt).toBe(1);
    expect(first?.key).toMatch(UUID);
    expect(retry).toEqual({ runnerId: expect.any(String), key: first?.key, attempt: 2 });
    expect(retry?.runnerId).not.toBe(first?.runnerId);
    // One key per call, not per pool: the next call's differs.
    const [next] = await pool.call(loseRunnerOnceKeyed, { marker: marker() });
    expect(next?.key).toMatch(UUID);
    expect(next?.key).not.toBe(first?.key);
  });

  it("a caller's own key arrives as given, on every attempt", async () => {
    const pool = localPool({ entry, execution, retry: { runnerDown: 1, backoffMs: 0 } });
    const idempotencyKey = "order-42·paiement";
    const lines = await pool.call(loseRunnerOnceKeyed, { marker: marker() }, { idempotencyKey });
    expect(lines.map((l) => [l.key, l.attempt])).toEqual([
      [idempotencyKey, 1],
      [idempotencyKey, 2],
    ]);
  });

  it("without retries: the caller's key as given, else one unique to the call, attempt 1", async () => {
    const pool = localPool({ entry, execution, max: 1 });
    expect(await pool.call(ownKey, null, { idempotencyKey: "mine" })).toEqual({
      key: "mine",
      attempt: 1,
    });
    const a = await pool.call(ownKey, null);
    const b = await pool.call(ownKey, null);
    expect(a.attempt).toBe(1);
    expect(a.key).toMatch(/\S/);
    expect(b.key).not.toBe(a.key);
  });
});

describe("the idempotencyKey option", () => {
  it.each([
    ["an empty string", ""],
    ["a number", 42],
    ["over 255 UTF-8 bytes", "é".repeat(128)],
  ])("refuses %s with INVALID_OPTIONS naming the field", async (_what, idempotencyKey) => {
    const pool = localPool({ entry });
    const call = pool.call(ownKey, null, { idempotencyKey: idempotencyKey as string });
    await expect(call).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "idempotencyKey" });
    expect(pool.snapshot().runners).toEqual([]);
  });
});
