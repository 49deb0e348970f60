/**
 * LocalBackend where `@flame-ts/runner-agent` is not installed: the agent is resolved from an
 * empty temporary directory (nothing is uninstalled from the repo), so Node's own resolution
 * fails as it would in an app that never installed it. Retrying cannot install a package, so
 * the boot must fail permanently, once, saying what to install.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { Pool } from "../../src/host/pool.js";
import { LocalBackend } from "../../src/local/index.js";
import type { PoolEvent } from "../../src/telemetry/events.js";
import { FakeWorld, VirtualClock } from "../host/fakes.js";

const nowhere = vi.hoisted(() => ({ dir: "" }));

vi.mock("../../src/local/agent-bin.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../src/local/agent-bin.js")>();
  return {
    ...actual,
    resolveAgentBin: () => actual.resolveAgentBin(pathToFileURL(join(nowhere.dir, "app.js")).href),
  };
});

nowhere.dir = mkdtempSync(join(tmpdir(), "flame-no-agent-"));
afterAll(() => rmSync(nowhere.dir, { recursive: true, force: true }));

const echo = defineFunction("missing-agent.echo", (input: unknown) => input);
const INSTALL = "npm install @flame-ts/runner-agent";

function setup() {
  const clock = new VirtualClock();
  // Only the fake listener is used: no boot gets as far as a runner dialling it.
  const world = new FakeWorld(clock);
  const backend = new LocalBackend({ entry: join(nowhere.dir, "functions.js") });
  const boot = vi.spyOn(backend, "boot");
  const pool = new Pool(
    { name: "no-agent", min: 1, max: 2, backend, clock, shutdownTimeout: 1_000 },
    { listen: world.listen, env: {} },
  );
  const events: PoolEvent[] = [];
  pool.events.subscribe((e) => events.push(e));
  return { clock, pool, boot, events };
}

describe("LocalBackend without @flame-ts/runner-agent installed", () => {
  it("fails a boot with a permanent BOOT_FAILED that says what to install", async () => {
    const backend = new LocalBackend({ entry: join(nowhere.dir, "functions.js") });
    const error = await backend
      .boot({
        runnerId: "no-agent-1",
        poolName: "no-agent",
        parentId: "parent",
        env: {},
        signal: new AbortController().signal,
        deadlineMs: Number.POSITIVE_INFINITY,
      })
      .catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect(error).toMatchObject({ permanent: true });
    expect((error as Error).message).toContain(INSTALL);
  });

  it("a min pool fails start() once and stops retrying until new demand", async () => {
    const { clock, pool, boot, events } = setup();
    const started = pool.start().catch((e: unknown) => e);
    await clock.advance(0);
    const error = await started;
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toContain(INSTALL);

    // A transient failure would be retried every second; a permanent one is not retried.
    await clock.advance(60_000);
    expect(boot).toHaveBeenCalledTimes(1);
    expect(events.filter((e) => e.type === "bootFailed")).toHaveLength(1);

    // A caller is new demand: one more boot is tried, and the caller fails at once with it.
    const call = pool.call(echo, 1).catch((e: unknown) => e);
    await clock.advance(0);
    const failed = await call;
    expect(isFlameError(failed, "BOOT_FAILED")).toBe(true);
    expect(failed).toMatchObject({ permanent: true });
    expect((failed as Error).message).toContain(INSTALL);
    await clock.advance(60_000);
    expect(boot).toHaveBeenCalledTimes(2);

    const stopped = pool.stop();
    await clock.advance(1_000);
    await stopped;
  });
});
