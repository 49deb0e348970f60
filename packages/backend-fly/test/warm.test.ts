// The warm pool: stopped runner Machines started again instead of created (issue 16).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FlyBackend } from "../src/fly-backend.js";
import { nodeScriptImage } from "./emulator/images.js";
import type { FlyEmulator } from "./emulator/server.js";
import {
  backendFor,
  bootRequest,
  DIAL_IMAGE,
  DIAL_PARENT_SCRIPT,
  startEmulator,
  TestParent,
} from "./helpers.js";

/** The same runner image after a deploy (another tag). */
const DIAL_IMAGE_V2 = "registry.fly.io/flame-test:dial-parent-v2";
const SLEEPER_IMAGE = "registry.fly.io/flame-test:sleeper";

let emulator: FlyEmulator;
let parent: TestParent;

beforeEach(async () => {
  emulator = await startEmulator({
    images: {
      [DIAL_IMAGE_V2]: nodeScriptImage(DIAL_PARENT_SCRIPT),
      [SLEEPER_IMAGE]: nodeScriptImage(new URL("./fixtures/sleeper.mjs", import.meta.url)),
    },
  });
  parent = await TestParent.start();
});
afterEach(async () => {
  expect(emulator.violations).toEqual([]);
  await emulator.close();
  await parent.close();
});

/** The wait stop() sends (the runner's watcher long-polls with timeout=60). */
const isStopWait = (url: string) => url.includes("/wait?") && url.includes("timeout=10");

const creates = () =>
  emulator.requests.filter((r) => r.operation === "Machines_create" && r.status === 200);

/** Boots a runner and waits for it to dial the parent. */
async function bootReady(backend: FlyBackend, parentId = "parent-a") {
  const req = bootRequest(parent.url, { parentId });
  const runner = await backend.boot(req);
  const hello = await parent.hello(req.runnerId);
  return { req, runner, hello, id: runner.meta.machineId ?? "" };
}

describe("warm pool of stopped Machines", () => {
  it("a stopped runner Machine is kept and the next boot starts it instead of creating", async () => {
    const backend = backendFor(emulator, { warm: { stopped: 2 } });
    const first = await bootReady(backend);
    expect(first.runner.meta.boot).toBe("created");
    expect(emulator.machine(first.id)?.config.auto_destroy).toBe(false);
    await first.runner.stop();
    await expect(first.runner.exited).resolves.toMatchObject({
      reason: expect.stringContaining("kept warm"),
    });
    expect(emulator.machine(first.id)?.state).toBe("stopped");

    const second = await bootReady(backend);
    expect(second.runner.meta).toMatchObject({ boot: "warm", machineId: first.id });
    // The same Machine runs the new runner: its env now carries the new runner's FLAME_PARENT.
    expect(second.hello.machineId).toBe(first.id);
    expect(emulator.machine(first.id)?.config.metadata?.flame_runner).toBe(second.req.runnerId);
    expect(creates()).toHaveLength(1);
    const starts = emulator.requests.filter((r) => r.operation === "Machines_start");
    expect(starts.map((r) => r.status)).toEqual([200]);
    expect(emulator.history(first.id)).toEqual([
      "created",
      "starting",
      "started",
      "stopping",
      "stopped",
      "starting",
      "started",
    ]);

    // A runner that ends by itself returns its Machine to the warm set too.
    parent.tellExit(second.req.runnerId, 0);
    await expect(second.runner.exited).resolves.toMatchObject({
      code: 0,
      reason: expect.stringContaining("kept warm"),
    });
    expect(emulator.machine(first.id)?.state).toBe("stopped");
    await second.runner.stop(); // after the end: changes nothing
    expect(emulator.machine(first.id)?.state).toBe("stopped");
  });

  // The rule for stop(): the Machine is kept or destroyed from its state, read under its lease
  // once the stop is done; a refused request (Fly's 429: the client paces by departures, Fly
  // counts arrivals) is retried, never taken for an answer. Each test forces the refusal.
  it("stop(): a rate-limited wait (429) is retried; the Machine stopped, so it is kept", async () => {
    let armed = true;
    const backend = backendFor(emulator, {
      warm: { stopped: 1 },
      fetch: (input, init) => {
        // The stop's wait (the watcher long-polls with timeout=60): Fly refuses the first one.
        if (armed && isStopWait(String(input))) {
          armed = false;
          emulator.rateLimitNext("wait", 1);
        }
        return fetch(input, init);
      },
    });
    const first = await bootReady(backend);
    await first.runner.stop();
    await expect(first.runner.exited).resolves.toMatchObject({
      reason: expect.stringContaining("kept warm"),
    });
    const stopWaits = emulator.requests.filter(
      (r) => r.operation === "Machines_wait" && isStopWait(r.path),
    );
    expect(stopWaits[0]?.status).toBe(429);
    expect(stopWaits.at(-1)?.status).toBe(200);
    expect(emulator.machine(first.id)?.state).toBe("stopped");
    expect(emulator.history(first.id)).not.toContain("destroying");
  });

  it("stop(): a rate-limited lease (429) is retried; the Machine is stopped and kept, not left running", async () => {
    const backend = backendFor(emulator, { warm: { stopped: 1 } });
    const first = await bootReady(backend);
    emulator.rateLimitNext("lease", 1);
    await first.runner.stop();
    await expect(first.runner.exited).resolves.toMatchObject({
      reason: expect.stringContaining("kept warm"),
    });
    const leases = emulator.requests.filter((r) => r.operation === "Machines_create_lease");
    expect(leases.map((r) => r.status)).toEqual([429, 200]);
    expect(emulator.machine(first.id)?.state).toBe("stopped");
  });

  it("stop(): a Machine that does not stop is destroyed by force (its state says so)", async () => {
    const backend = backendFor(emulator, {
      warm: { stopped: 1 },
      // Fly accepts the stop but the VM hangs: the stop changes nothing and the stop's wait
      // ends as Fly's does after its timeout (408), without the test waiting 10 s for it.
      fetch: (input, init) => {
        const url = String(input);
        if (url.endsWith("/stop")) return Promise.resolve(Response.json({ ok: true }));
        if (isStopWait(url))
          return Promise.resolve(
            Response.json(
              { error: "deadline_exceeded: machine did not reach stopped" },
              {
                status: 408,
              },
            ),
          );
        return fetch(input, init);
      },
    });
    const first = await bootReady(backend);
    await first.runner.stop();
    await expect(first.runner.exited).resolves.toMatchObject({
      reason: expect.stringContaining("destroyed"),
    });
    expect(emulator.machine(first.id)?.state).toBe("destroyed");
    expect(emulator.history(first.id)).not.toContain("stopped");
  });

  it("keeps at most n stopped Machines: the others are destroyed when their runner ends", async () => {
    const backend = backendFor(emulator, { warm: { stopped: 1 } });
    const a = await bootReady(backend);
    const b = await bootReady(backend);
    await a.runner.stop();
    await b.runner.stop();
    const states = [a.id, b.id].map((id) => emulator.machine(id)?.state).sort();
    expect(states).toEqual(["destroyed", "stopped"]);
  });

  it("two parents never take the same warm Machine: a leased one is skipped (409) and a new one created", async () => {
    const backend = backendFor(emulator, { warm: { stopped: 2 } });
    const first = await bootReady(backend);
    await first.runner.stop();
    // Another parent is in the middle of taking that Machine: it holds the lease.
    const lease = await backend.client.acquireLease(first.id, { ttl: 30, description: "parent b" });
    const second = await bootReady(backend);
    expect(second.runner.meta.boot).toBe("created");
    expect(second.id).not.toBe(first.id);
    const leaseTries = emulator.requests.filter((r) => r.operation === "Machines_create_lease");
    expect(leaseTries.map((r) => r.status)).toContain(409);
    expect(emulator.machine(first.id)?.state).toBe("stopped"); // untouched
    await backend.client.releaseLease(first.id, lease.nonce);
    await second.runner.stop();
  });

  it("a refused lease release (429) is retried: the Machine is not left locked for the lease's TTL", async () => {
    const backend = backendFor(emulator, { warm: { stopped: 1 } });
    const first = await bootReady(backend);
    await first.runner.stop();
    emulator.rateLimitNext("release_lease", 2);
    const second = await bootReady(backend);
    expect(second.runner.meta).toMatchObject({ boot: "warm", machineId: first.id });
    const releases = emulator.requests.filter((r) => r.operation === "Machines_release_lease");
    expect(releases.slice(-3).map((r) => r.status)).toEqual([429, 429, 200]);
    expect(emulator.leaseOf(first.id)).toBeUndefined();
    await second.runner.stop();
  });

  it("two parents booting at once from one warm Machine end up on different Machines", async () => {
    const a = backendFor(emulator, { warm: { stopped: 2 } });
    const b = backendFor(emulator, { warm: { stopped: 2 } });
    const seed = await bootReady(a);
    await seed.runner.stop();
    const [one, two] = await Promise.all([bootReady(a, "parent-a"), bootReady(b, "parent-b")]);
    expect(one.id).not.toBe(two.id);
    expect([one.runner.meta.boot, two.runner.meta.boot].sort()).toEqual(["created", "warm"]);
    expect([one.id, two.id]).toContain(seed.id);
    await Promise.all([one.runner.stop(), two.runner.stop()]);
  });

  it("after a deploy (new image), warm Machines of the old image are destroyed and replaced", async () => {
    const before = backendFor(emulator, { warm: { stopped: 2 } });
    const old1 = await bootReady(before);
    const old2 = await bootReady(before);
    await Promise.all([old1.runner.stop(), old2.runner.stop()]);
    expect([old1.id, old2.id].map((id) => emulator.machine(id)?.state)).toEqual([
      "stopped",
      "stopped",
    ]);

    const after = backendFor(emulator, { image: DIAL_IMAGE_V2, warm: { stopped: 2 } });
    const fresh = await bootReady(after);
    expect(fresh.runner.meta.boot).toBe("created");
    expect(emulator.machine(fresh.id)?.config.image).toBe(DIAL_IMAGE_V2);
    await emulator.waitFor(old1.id, "destroyed");
    await emulator.waitFor(old2.id, "destroyed");

    await fresh.runner.stop();
    const again = await bootReady(after);
    expect(again.runner.meta).toMatchObject({ boot: "warm", machineId: fresh.id });
    await again.runner.stop();
    expect(emulator.machines().filter((m) => m.config.image === DIAL_IMAGE)).toSatisfy((ms) =>
      (ms as Array<{ state: string }>).every((m) => m.state === "destroyed"),
    );
  });

  it("the reaper keeps warm Machines while some parent of the app lives, destroys them when none does", async () => {
    // Two parents, each a Machine of the app; each leaves one warm Machine behind.
    const admin = backendFor(emulator).client;
    const p1 = (await admin.createMachine({ config: { image: SLEEPER_IMAGE } })).id;
    const p2 = (await admin.createMachine({ config: { image: SLEEPER_IMAGE } })).id;
    const a = backendFor(emulator, { warm: { stopped: 2 }, processEnv: { FLY_MACHINE_ID: p1 } });
    const b = backendFor(emulator, { warm: { stopped: 2 }, processEnv: { FLY_MACHINE_ID: p2 } });
    const [w1, w2] = await Promise.all([bootReady(a, "parent-1"), bootReady(b, "parent-2")]);
    await Promise.all([w1.runner.stop(), w2.runner.stop()]);
    const reaper = backendFor(emulator); // a process with no warm pool and no runners here

    await admin.destroyMachine(p1, true);
    expect((await reaper.reapOrphans({ olderThanMs: 0 })).destroyed).toEqual([]);
    expect([w1.id, w2.id].map((id) => emulator.machine(id)?.state)).toEqual(["stopped", "stopped"]);
    await admin.destroyMachine(p2, true);
    // A parent with a warm pool of its own keeps them (it will start or replace them) …
    expect((await a.reapOrphans({ olderThanMs: 0 })).destroyed).toEqual([]);
    // … a reaper with none destroys them once no parent is left.
    const reaped = await reaper.reapOrphans({ olderThanMs: 0 });
    expect(reaped.destroyed.sort()).toEqual([w1.id, w2.id].sort());
  });
});
