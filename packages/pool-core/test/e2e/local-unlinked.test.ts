/**
 * Issue 24: FLAME's `link: false` end to end on LocalBackend. Unlinked work survives its
 * caller's abort (the caller is answered ABORTED, the work runs to its end and its result is
 * dropped), and drain() and stop() wait for it; linked work (the default) is cancelled as before.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { PoolEvent } from "../../src/index.js";
import { finishUnlessAborted } from "./fixtures/flame-semantics.mjs";
import { codeOf, localPool } from "./helpers.js";

const entry = new URL("./fixtures/flame-semantics.mjs", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "flame-unlinked-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let markers = 0;
const marker = (): string => join(dir, `marker-${++markers}`);
const notes = (path: string): string[] =>
  existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : [];
const started = (path: string) =>
  vi.waitFor(() => expect(notes(path)).toContain("started"), { timeout: 15_000, interval: 50 });

function recorded(pool: ReturnType<typeof localPool>): PoolEvent[] {
  const events: PoolEvent[] = [];
  pool.events.subscribe((event) => {
    events.push(event);
  });
  return events;
}

describe("link: false on LocalBackend", () => {
  it("an unlinked call survives its caller's abort, and drain() waits for it", async () => {
    const pool = localPool({ entry });
    const events = recorded(pool);
    const path = marker();
    const abort = new AbortController();
    const input = { marker: path, ms: 1_500 };
    const call = pool.call(finishUnlessAborted, input, { signal: abort.signal, link: false });
    await started(path);
    abort.abort();
    // The caller is answered at once; the work is not.
    expect(await codeOf(call)).toBe("ABORTED");
    expect(notes(path)).toEqual(["started"]);
    await pool.drain({ timeout: 20_000 });
    expect(notes(path)).toEqual(["started", "done"]);
    // Its outcome is dropped for the caller but still counted.
    expect(events.filter((e) => e.type === "callFinished")).toEqual([
      expect.objectContaining({ fn: "issue24.finishUnlessAborted", ok: true }),
    ]);
  });

  it("a linked call (the default) is cancelled by its caller's abort", async () => {
    const pool = localPool({ entry });
    const path = marker();
    const abort = new AbortController();
    const call = pool.call(
      finishUnlessAborted,
      { marker: path, ms: 1_500 },
      { signal: abort.signal },
    );
    await started(path);
    abort.abort();
    expect(await codeOf(call)).toBe("ABORTED");
    await pool.drain({ timeout: 20_000 });
    expect(notes(path)).toEqual(["started"]);
  });

  it("stop() lets an unlinked child finish (up to shutdownTimeout) and says so in an event", async () => {
    const pool = localPool({ entry, shutdownTimeout: 20_000 });
    const events = recorded(pool);
    const path = marker();
    const child = await pool.placeChild(
      finishUnlessAborted,
      { marker: path, ms: 1_000 },
      {
        link: false,
      },
    );
    await started(path);
    await pool.stop();
    expect(await child.result).toBe("done");
    expect(notes(path)).toEqual(["started", "done"]);
    expect(events.filter((e) => e.type === "unlinkedWait")).toEqual([
      expect.objectContaining({ runnerId: child.runnerId, unlinked: 1, timeoutMs: 20_000 }),
    ]);
  });

  it("a linked child is stopped by stop() (unchanged)", async () => {
    const pool = localPool({ entry });
    const path = marker();
    const child = await pool.placeChild(finishUnlessAborted, { marker: path, ms: 1_000 });
    await started(path);
    await pool.stop();
    expect(await codeOf(child.result)).toBe("REMOTE_ERROR");
    expect(notes(path)).toEqual(["started"]);
  });

  it("refuses a link that is not a boolean, naming the field", async () => {
    const pool = localPool({ entry });
    const call = pool.call(
      finishUnlessAborted,
      { marker: marker(), ms: 1 },
      {
        link: "no" as unknown as boolean,
      },
    );
    await expect(call).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "link" });
  });
});
