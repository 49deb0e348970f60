import { isFlameError } from "@flame-ts/pool-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FlyBackend } from "../src/fly-backend.js";
import type { FlyEmulator } from "./emulator/server.js";
import { CAPACITY_ERROR_MESSAGE } from "./emulator/server.js";
import { backendFor, bootRequest, DIAL_IMAGE, startEmulator, TestParent } from "./helpers.js";

let emulator: FlyEmulator;
let parent: TestParent;
let backend: FlyBackend;

beforeEach(async () => {
  emulator = await startEmulator();
  parent = await TestParent.start();
  backend = backendFor(emulator, {
    env: { USER_SETTING: "from-options" },
    metadata: { team: "media" },
  });
});
afterEach(async () => {
  await emulator.close();
  await parent.close();
});

describe("FlyBackend.boot", () => {
  it("creates a Machine as FLAME does and the runner dials back with FLAME_PARENT", async () => {
    const req = bootRequest(parent.url);
    const runner = await backend.boot(req);
    const hello = await parent.hello(req.runnerId);

    expect(hello.machineId).toBe(runner.meta.machineId);
    expect(hello.userEnv).toBe("from-options");
    // Only the Machine's config env and Fly's runtime variables, nothing of the parent's env.
    expect(hello.env).toContain("FLAME_PARENT");
    expect(hello.env).not.toContain("HOME");

    const created = emulator.machine(runner.meta.machineId ?? "");
    expect(created?.config).toMatchObject({
      image: DIAL_IMAGE,
      auto_destroy: true,
      restart: { policy: "no" },
      guest: { cpu_kind: "performance", cpus: 1, memory_mb: 4096 },
      metadata: {
        team: "media",
        flame_pool: "thumbs",
        flame_runner: req.runnerId,
        flame_parent: "parent-a",
      },
      env: { USER_SETTING: "from-options", FLAME_PARENT: req.env.FLAME_PARENT },
    });
    expect(runner.meta).toMatchObject({
      machineId: created?.id,
      privateIp: "::1",
      instanceId: created?.instance_id,
    });
    await runner.stop();
  });

  it("stop() stops and destroys the Machine, settles exited, and is idempotent", async () => {
    const req = bootRequest(parent.url);
    const runner = await backend.boot(req);
    await parent.hello(req.runnerId);
    const id = runner.meta.machineId ?? "";
    await Promise.all([runner.stop(), runner.stop()]);
    await runner.stop();
    expect(emulator.machine(id)?.state).toBe("destroyed");
    expect(emulator.pid(id)).toBeUndefined();
    await expect(runner.exited).resolves.toMatchObject({ reason: expect.stringContaining(id) });
  });

  it("exited settles with the exit code when the runner exits on its own (auto_destroy cleans up)", async () => {
    const req = bootRequest(parent.url);
    const runner = await backend.boot(req);
    await parent.hello(req.runnerId);
    parent.tellExit(req.runnerId, 0);
    await expect(runner.exited).resolves.toEqual({
      code: 0,
      reason: `machine ${runner.meta.machineId} stopped`,
    });
    expect(emulator.machine(runner.meta.machineId ?? "")?.state).toBe("destroyed");
    await runner.stop(); // still fine after the Machine is gone
  });

  it("exited settles when the Machine crashes (SIGKILL)", async () => {
    const req = bootRequest(parent.url);
    const runner = await backend.boot(req);
    await parent.hello(req.runnerId);
    emulator.crash(runner.meta.machineId ?? "");
    await expect(runner.exited).resolves.toMatchObject({ code: 137 });
  });

  it("retries 429 and 412 within the boot deadline, then succeeds", async () => {
    emulator.rateLimitNext("create", 2);
    emulator.failCreates(1, 412, "failed_precondition: lease held");
    const req = bootRequest(parent.url);
    const runner = await backend.boot(req);
    await parent.hello(req.runnerId);
    const creates = emulator.requests.filter(
      (r) => r.method === "POST" && r.path.endsWith("/machines"),
    );
    expect(creates.map((r) => r.status)).toEqual([429, 429, 412, 200]);
    await runner.stop();
  });

  it("gives up at the boot deadline with BOOT_FAILED naming Fly's last answer", async () => {
    emulator.failCreates(1_000, 422, "invalid_argument: machine config is being updated");
    const req = bootRequest(parent.url, { deadlineMs: Date.now() + 2_000 });
    const error = await backend.boot(req).catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toContain(
      "HTTP 422: invalid_argument: machine config is being updated",
    );
    expect(error).toMatchObject({ permanent: false }); // may pass on a later try
    expect(emulator.machines()).toEqual([]);
  });

  it("surfaces a capacity error at once as BOOT_FAILED with Fly's message", async () => {
    emulator.capacityError();
    const error = await backend.boot(bootRequest(parent.url)).catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toContain(CAPACITY_ERROR_MESSAGE);
    expect(error).toMatchObject({ permanent: false }); // capacity comes back
    const creates = emulator.requests.filter((r) => r.method === "POST");
    expect(creates).toHaveLength(1);
  });

  it("a bad token fails the boot with a clear message and no retries", async () => {
    const bad = backendFor(emulator, { token: "wrong-token" });
    const error = await bad.boot(bootRequest(parent.url)).catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/HTTP 401: You must be authenticated.*FLY_API_TOKEN/);
    expect(error).toMatchObject({ permanent: true }); // retrying cannot fix a bad token
    expect(emulator.requests).toHaveLength(1);
  });

  it("a misnamed option field reaches Fly as a 400 and fails the boot (the emulator validates bodies)", async () => {
    const odd = backendFor(emulator, {
      services: [{ protocol: "tcp", internal_port: 8080, internalPort: 1 } as never],
    });
    const error = await odd.boot(bootRequest(parent.url)).catch((e: unknown) => e);
    expect((error as Error).message).toContain(
      "HTTP 400: unknown field config.services[0].internalPort",
    );
  });

  it("an unknown image is a permanent BOOT_FAILED; a 5xx is not", async () => {
    const missing = backendFor(emulator, { image: "registry.fly.io/flame-test:nope" });
    const error = await missing.boot(bootRequest(parent.url)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BOOT_FAILED", permanent: true });
    expect((error as Error).message).toContain("failed to resolve image");
    emulator.failCreates(1, 503, "upstream unavailable");
    const transient = await backend.boot(bootRequest(parent.url)).catch((e: unknown) => e);
    expect(transient).toMatchObject({ code: "BOOT_FAILED", permanent: false });
  });

  it("aborting the boot while retrying leaves no Machine behind", async () => {
    emulator.failCreates(1_000, 429, "rate limit exceeded");
    const controller = new AbortController();
    const booting = backend.boot(bootRequest(parent.url, { signal: controller.signal }));
    await expect.poll(() => emulator.requests.length >= 2, { timeout: 10_000 }).toBe(true);
    controller.abort();
    await expect(booting).rejects.toMatchObject({ code: "BOOT_FAILED" });
    expect(emulator.machines()).toEqual([]);
  });
});

describe("FlyBackend pacing", () => {
  it("a boot abandoned while queued for Fly's rate limit sends no create at all", async () => {
    // Use up the create burst (3), so the next create must wait about a second for its slot.
    const runners = [];
    for (let i = 0; i < 3; i++) runners.push(await backend.boot(bootRequest(parent.url)));
    const controller = new AbortController();
    const booting = backend.boot(bootRequest(parent.url, { signal: controller.signal }));
    controller.abort();
    await expect(booting).rejects.toMatchObject({ code: "BOOT_FAILED" });
    expect(emulator.requests.filter((r) => r.method === "POST")).toHaveLength(3);
    await Promise.all(runners.map((runner) => runner.stop()));
  });

  // No 429 by construction (rate-limit.ts): the pacer lets a create leave only when the
  // emulator's bucket has room for it whenever the earlier ones were counted.
  it("backends for the same app share Fly's budget: two pools creating at once get no 429", async () => {
    const other = backendFor(emulator);
    const booted = await Promise.all(
      [backend, other, backend, other, backend].map((b) => b.boot(bootRequest(parent.url))),
    );
    expect(emulator.requests.filter((r) => r.status === 429)).toEqual([]);
    await Promise.all(booted.map((runner) => runner.stop()));
  });
});

describe("FlyBackend.reapOrphans", () => {
  it("destroys a dead parent's Machines and keeps the live one's and its own", async () => {
    const other = backendFor(emulator);
    const dead = await other.boot(bootRequest(parent.url, { parentId: "parent-dead" }));
    const live = await other.boot(bootRequest(parent.url, { parentId: "parent-live" }));
    const own = await backend.boot(bootRequest(parent.url, { parentId: "parent-me" }));
    const asked: string[] = [];
    const result = await backend.reapOrphans({
      olderThanMs: 0,
      isParentAlive: (parentId) => {
        asked.push(parentId);
        return parentId === "parent-live";
      },
    });
    expect(result.destroyed).toEqual([dead.meta.machineId]);
    expect(result.kept.sort()).toEqual([live.meta.machineId, own.meta.machineId].sort());
    expect(asked).not.toContain("parent-me");
    expect(emulator.machine(dead.meta.machineId ?? "")?.state).toBe("destroyed");
    await expect(dead.exited).resolves.toBeDefined();
    await live.stop();
    await own.stop();
  });

  it("by default asks Fly whether the parent Machine is still started", async () => {
    // The "parent" is itself a Machine of the app; the runner carries its id in metadata.
    const parentMachine = await backend.client.createMachine({
      config: {
        image: DIAL_IMAGE,
        env: { FLAME_PARENT: bootRequest(parent.url).env.FLAME_PARENT ?? "" },
      },
    });
    const child = backendFor(emulator, { processEnv: { FLY_MACHINE_ID: parentMachine.id } });
    const runner = await child.boot(bootRequest(parent.url, { parentId: "parent-x" }));
    expect(
      emulator.machine(runner.meta.machineId ?? "")?.config.metadata?.flame_parent_machine,
    ).toBe(parentMachine.id);

    const young = await backend.reapOrphans();
    expect(young.destroyed).toEqual([]); // created < 60 s ago: a boot may be in flight

    expect((await backend.reapOrphans({ olderThanMs: 0 })).destroyed).toEqual([]);
    await backend.client.destroyMachine(parentMachine.id, true);
    const reaped = await backend.reapOrphans({ olderThanMs: 0 });
    expect(reaped.destroyed).toEqual([runner.meta.machineId]);
  });
});

describe("FlyBackend.reapOrphans when Fly does not answer", () => {
  /** A runner whose parent Machine is destroyed: the reaper must destroy it. */
  async function orphan() {
    const parentMachine = await backend.client.createMachine({ config: { image: DIAL_IMAGE } });
    const child = backendFor(emulator, { processEnv: { FLY_MACHINE_ID: parentMachine.id } });
    const runner = await child.boot(bootRequest(parent.url, { parentId: "parent-x" }));
    await backend.client.destroyMachine(parentMachine.id, true);
    return runner.meta.machineId ?? "";
  }

  it("retries a rate-limited list, parent lookup and destroy (429), and still reaps", async () => {
    const id = await orphan();
    emulator.rateLimitNext("list", 2);
    emulator.rateLimitNext("get", 1);
    emulator.rateLimitNext("destroy", 1);
    const reaped = await backend.reapOrphans({ olderThanMs: 0 });
    expect(reaped.destroyed).toEqual([id]);
    const statuses = (operation: string) =>
      emulator.requests.filter((r) => r.operation === operation).map((r) => r.status);
    expect(statuses("Machines_list")).toEqual([429, 429, 200]);
    expect(statuses("Machines_show").slice(0, 2)).toEqual([429, 200]);
    expect(statuses("Machines_delete").slice(-2)).toEqual([429, 200]);
    expect(emulator.machine(id)?.state).toBe("destroyed");
  });

  it("retries a list answered 5xx or not at all, and still reaps", async () => {
    const id = await orphan();
    let lists = 0;
    const reaper = backendFor(emulator, {
      fetch: (input, init) => {
        if (init?.method === "GET" && new URL(String(input)).pathname.endsWith("/machines")) {
          lists++;
          if (lists === 1)
            return Promise.resolve(
              Response.json({ error: "upstream unavailable" }, { status: 503 }),
            );
          if (lists === 2) return Promise.reject(new TypeError("fetch failed"));
        }
        return fetch(input, init);
      },
    });
    const reaped = await reaper.reapOrphans({ olderThanMs: 0 });
    expect(lists).toBe(3);
    expect(reaped.destroyed).toEqual([id]);
  });
});
