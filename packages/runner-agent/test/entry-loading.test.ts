/**
 * The agent dials while its entry module loads (protocol 8): a real flame-runner whose entry
 * waits on a file says `loading` (naming the entry) before its entry has loaded, and its hello
 * once it has; an entry that fails after that still ends the runner with exit 1 naming it; and
 * one that never finishes loading fails its pool's boot at bootTimeout, the error naming it.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isFlameError, LocalBackend, Pool } from "@flame-ts/pool-core";
import { encodeParentDescriptor } from "@flame-ts/pool-core/protocol";
import { PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { afterEach, describe, expect, it } from "vitest";
import { AgentProcess, descriptor, killAllAgents } from "./agent-process.js";
import { FakeParent, isT } from "./fake-parent.js";

const GATED = fileURLToPath(new URL("./fixtures/gated-entry.mjs", import.meta.url));

/** How long a runner may take to start and dial when the whole suite loads the machine. */
const LOADED_MACHINE_BOUND_MS = 25_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A runner on threads or inline whose entry loads once `open()` is called. */
async function gatedRunner(mode: "threads" | "inline", env: Record<string, string> = {}) {
  const parent = await FakeParent.listen();
  cleanups.push(() => parent.close());
  const gate = join(mkdtempSync(join(tmpdir(), "flame-gate-")), "open");
  const d = descriptor(parent, {
    execution: { mode, threads: null, threadMemoryMb: null, terminateGraceMs: 1_000 },
  });
  const agent = new AgentProcess(
    { FLAME_PARENT: encodeParentDescriptor(d), GATED_ENTRY_FILE: gate, ...env },
    ["--entry", GATED],
  );
  return { parent, agent, runnerId: d.runnerId, open: () => writeFileSync(gate, "") };
}

describe("a runner whose entry is still loading when it reaches the parent", () => {
  for (const mode of ["threads", "inline"] as const) {
    it(`(${mode}) says loading, naming its entry, then hello with the entry's functions once it loaded`, async () => {
      const { parent, runnerId, open } = await gatedRunner(mode);
      // The gate is shut: the entry cannot have loaded, yet the runner dialed and said so.
      const loading = await parent.next(isT("loading"), LOADED_MACHINE_BOUND_MS, parent.openings);
      expect(loading).toEqual({
        t: "loading",
        runnerId,
        protocol: PROTOCOL_VERSION,
        entry: pathToFileURL(GATED).href,
      });
      expect(parent.openings).toHaveLength(1);
      open();
      const hello = await parent.next(isT("hello"), LOADED_MACHINE_BOUND_MS, parent.openings);
      expect(hello.functions).toEqual(["gated.echo"]);
      expect(parent.openings.map((m) => m.t)).toEqual(["loading", "hello"]);
    }, 60_000);
  }

  it("exits 1 naming the entry when it fails to load after the runner said loading", async () => {
    const { parent, agent, open } = await gatedRunner("threads", { GATED_ENTRY_FAIL: "1" });
    await parent.next(isT("loading"), LOADED_MACHINE_BOUND_MS, parent.openings);
    open();
    const end = await agent.exit(LOADED_MACHINE_BOUND_MS);
    expect(end.code).toBe(1);
    expect(end.lastLine).toMatch(
      /^flame-runner: could not load entry .*gated-entry\.mjs: gated entry failed on purpose/,
    );
    expect(parent.openings.map((m) => m.t)).toEqual(["loading"]);
  }, 60_000);

  it("that never finishes loading fails its pool's boot at bootTimeout, the error naming the entry and the bound", async () => {
    const gate = join(mkdtempSync(join(tmpdir(), "flame-gate-")), "never-opened");
    const pool = new Pool({
      name: "loading-forever",
      min: 1,
      max: 1,
      // Far above the ~1 s a runner takes to say loading, even on a machine loaded like CI's
      // whole-suite runs (seen: over 8 s); the message, not the time, is what is checked.
      bootTimeout: 20_000,
      backend: new LocalBackend({
        entry: GATED,
        env: { GATED_ENTRY_FILE: gate },
        inheritLoaders: false,
      }),
    });
    cleanups.push(() => pool.stop());
    const error: unknown = await pool.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    const { message } = error as Error;
    expect(message).toContain("did not say hello within bootTimeout (20000 ms)");
    expect(message).toContain(`still loading its entry ${pathToFileURL(GATED).href}`);
  }, 60_000);

  it("and is refused at the challenge ends that thread before it exits 4", async () => {
    // Node's exit with a worker still loading crashed such a runner once (a V8 fatal error,
    // SIGTRAP) where its backend reads exit 4: the bin ends its threads first.
    const parent = await FakeParent.listen({ proof: "forge" });
    cleanups.push(() => parent.close());
    const gate = join(mkdtempSync(join(tmpdir(), "flame-gate-")), "never-opened");
    const agent = new AgentProcess(
      { FLAME_PARENT: encodeParentDescriptor(descriptor(parent)), GATED_ENTRY_FILE: gate },
      ["--entry", GATED, "--debug"],
    );
    const end = await agent.exit(LOADED_MACHINE_BOUND_MS);
    expect({ code: end.code, signal: end.signal }).toEqual({ code: 4, signal: null });
    expect(end.stderr).toContain("flame-runner[debug]: ended 1 worker thread(s) before exiting\n");
    expect(end.lastLine).toMatch(/did not prove it holds this runner's token/);
  }, 60_000);
});
