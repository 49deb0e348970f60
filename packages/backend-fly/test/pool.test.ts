// FlyBackend under a real Pool: the emulator starts the real runner-agent (packages/runner-agent/dist)
// in every Machine. Build pool-core and runner-agent first (`npm test` does).
import { isFlameError, Pool } from "@flame-ts/pool-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flameRunnerImage } from "./emulator/images.js";
import type { FlyEmulator } from "./emulator/server.js";
import { add, sleep, whereAmI } from "./fixtures/functions.mjs";
import { backendFor, startEmulator } from "./helpers.js";

const RUNNER_IMAGE = "registry.fly.io/flame-test:runner";
const ENTRY = new URL("./fixtures/functions.mjs", import.meta.url);

let emulator: FlyEmulator;
let pool: Pool | undefined;

beforeEach(async () => {
  emulator = await startEmulator({ images: { [RUNNER_IMAGE]: flameRunnerImage(ENTRY) } });
});
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
  await emulator.close();
});

function flyPool(overrides: Partial<ConstructorParameters<typeof Pool>[0]> = {}): Pool {
  return new Pool({
    name: "flytest",
    min: 0,
    max: 2,
    maxConcurrency: 4,
    backend: backendFor(emulator, { image: RUNNER_IMAGE, region: "ord" }),
    bootTimeout: 20_000,
    shutdownTimeout: 5_000,
    ...overrides,
  });
}

describe("Pool on FlyBackend + emulator (real runner-agent)", () => {
  it("runs a call on a Fly Machine and shows the Machine in the snapshot", async () => {
    pool = flyPool();
    await pool.start();
    expect(await pool.call(add, { a: 2, b: 3 })).toBe(5);
    const where = (await pool.call(whereAmI, {})) as { machineId: string; region: string };
    const machine = emulator.machine(where.machineId);
    expect(machine?.state).toBe("started");
    expect(where.region).toBe("ord");
    expect(machine?.config.metadata).toMatchObject({ flame_pool: "flytest" });
    expect(pool.snapshot().runners.map((r) => r.meta.machineId)).toContain(where.machineId);
  });

  it("a Machine crash mid-call fails that call with RUNNER_DOWN and the next call succeeds", async () => {
    pool = flyPool({ max: 1 });
    await pool.start();
    const where = (await pool.call(whereAmI, {})) as { machineId: string };
    const pending = pool.call(sleep, { ms: 60_000 }, { timeout: 90_000 });
    await expect
      .poll(() => pool?.snapshot().runners.some((r) => r.inflight === 1) ?? false, {
        timeout: 20_000,
      })
      .toBe(true);
    const crashedAtMs = Date.now();
    emulator.crash(where.machineId);
    const error = await pending.catch((e: unknown) => e);
    console.log(`Fly Machine crash → RUNNER_DOWN after ${Date.now() - crashedAtMs} ms`);
    expect(isFlameError(error, "RUNNER_DOWN")).toBe(true);
    expect(await pool.call(add, { a: 1, b: 1 })).toBe(2);
    await emulator.waitFor(where.machineId, "destroyed");
  });

  it("with a warm pool, an idle-shut-down runner's Machine is started again for the next call (meta.boot)", async () => {
    pool = flyPool({
      max: 1,
      idleShutdownAfter: 200,
      backend: backendFor(emulator, { image: RUNNER_IMAGE, warm: { stopped: 1 } }),
    });
    await pool.start();
    const first = (await pool.call(whereAmI, {})) as { machineId: string; pid: number };
    expect(pool.snapshot().runners.map((r) => r.meta.boot)).toEqual(["created"]);
    // Idle shutdown: the runner exits, its Machine stays stopped (warm) instead of destroyed.
    await expect.poll(() => pool?.snapshot().runners.length === 0, { timeout: 20_000 }).toBe(true);
    await emulator.waitFor(first.machineId, "stopped");
    // Returned to the warm set: the retire decision ends by releasing its lease.
    await decided(first.machineId, 0);
    expect(emulator.machine(first.machineId)?.state).toBe("stopped");
    const second = (await pool.call(whereAmI, {})) as { machineId: string; pid: number };
    expect(second.machineId).toBe(first.machineId);
    expect(second.pid).not.toBe(first.pid);
    expect(pool.snapshot().runners.map((r) => r.meta.boot)).toEqual(["warm"]);
    // pool.stop(): the runner's exit and stop() race (which one the backend sees first depends
    // on timing) and the stop's requests may be refused (429); the rule does not depend on
    // either: the Machine stopped and the warm set has room, so it is kept for the next parent.
    const since = emulator.requests.length;
    await pool.stop();
    pool = undefined;
    // pool.stop() waits for runner exits only up to a bound: wait for the decision itself.
    await decided(first.machineId, since);
    expect(emulator.machine(first.machineId)?.state).toBe("stopped");
    expect(emulator.history(first.machineId)).not.toContain("destroying");
  });

  it("stop() leaves no Machine behind", async () => {
    pool = flyPool({ min: 2 });
    await pool.start();
    await Promise.all([pool.call(add, { a: 1, b: 2 }), pool.call(add, { a: 3, b: 4 })]);
    const ids = emulator.machines().map((m) => m.id);
    expect(ids).toHaveLength(2);
    await pool.stop();
    pool = undefined;
    for (const id of ids) {
      await emulator.waitFor(id, "destroyed");
      expect(emulator.pid(id)).toBeUndefined();
    }
  });
});

/** Waits until a keep-or-destroy decision on the Machine, made after request `since`, is over (it ends by releasing the Machine's lease). */
async function decided(machineId: string, since: number): Promise<void> {
  await expect
    .poll(
      () =>
        emulator.requests
          .slice(since)
          .some(
            (r) =>
              r.operation === "Machines_release_lease" &&
              r.status === 200 &&
              r.path.includes(`/${machineId}/`),
          ),
      { timeout: 20_000 },
    )
    .toBe(true);
}
