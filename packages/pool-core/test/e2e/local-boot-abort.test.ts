/**
 * LocalBackend when the boot is aborted (deadline, pool stop) before boot() answered: the
 * caller gets the abort's reason and no runner process is left behind.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { LocalBackend } from "../../src/index.js";
import { fixtureEntry } from "./helpers.js";

/** Live child processes of this test process that run the runner agent. */
function agentChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid (after the parenthesised command).
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (ppid === process.pid && cmdline.includes("runner-agent")) pids.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

function bootRequest(runnerId: string, signal: AbortSignal) {
  return {
    runnerId,
    poolName: "e2e",
    parentId: "test",
    env: {},
    signal,
    deadlineMs: Date.now() + 10_000,
  };
}

describe("LocalBackend boot aborted", () => {
  it("before boot() answered: rejects with the abort reason and starts no process", async () => {
    const backend = new LocalBackend({ entry: fixtureEntry });
    const controller = new AbortController();
    const reason = new FlameError("BOOT_FAILED", "the pool stopped");
    const booting = backend.boot(bootRequest("abort-early", controller.signal));
    controller.abort(reason);
    await expect(booting).rejects.toBe(reason);
    await expect
      .poll(() => agentChildren().length === 0, {
        timeout: 5_000,
        message: "no runner process left",
      })
      .toBe(true);
  });

  it("after boot() answered: the runner's process ends", async () => {
    const backend = new LocalBackend({ entry: fixtureEntry });
    const controller = new AbortController();
    const runner = await backend.boot(bootRequest("abort-late", controller.signal));
    expect(agentChildren()).toHaveLength(1);
    controller.abort(new FlameError("BOOT_FAILED", "no hello in time"));
    await runner.exited;
    await expect
      .poll(() => agentChildren().length === 0, {
        timeout: 5_000,
        message: "no runner process left",
      })
      .toBe(true);
  });
});
