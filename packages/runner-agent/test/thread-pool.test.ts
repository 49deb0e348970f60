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

it("a first thread that ends before the pool adopts it is replaced, and calls are served", async () => {
  const marker = join(mkdtempSync(join(tmpdir(), "flame-first-")), "marker");
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT], {
    env: { ...process.env, FIRST_THREAD_MARKER: marker },
    timeout: 30_000,
  });
  const report = JSON.parse(stdout.trim()) as Record<string, unknown>;
  expect(report.functions).toContain("echo");
  expect(report.exitCode).toBe(7);
  expect(report).toMatchObject({
    answer: { ok: true, msg: { t: "result", id: 1, ok: true, value: "served by the replacement" } },
  });
});
