// The emulator against Fly's own OpenAPI description (issue 16, "emulator fidelity"): what
// FlyBackend sends is checked, the emulator's answers are checked, and the documented states,
// leases and init semantics behave as described.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlyApiError, FlyMachinesClient } from "../src/client.js";
import { LEASE_NONCE_HEADER } from "../src/machines-api.js";
import { nodeScriptImage } from "./emulator/images.js";
import { FlyApiDescription, OPENAPI_SOURCE } from "./emulator/openapi.js";
import type { FlyEmulator } from "./emulator/server.js";
import { APP, backendFor, bootRequest, startEmulator, TestParent, TOKEN } from "./helpers.js";

const SLEEPER = "registry.fly.io/flame-test:sleeper";
const ARGV = "registry.fly.io/flame-test:argv";
const ARGV_SCRIPT = fileURLToPath(new URL("./fixtures/argv.mjs", import.meta.url));

let emulator: FlyEmulator;
let client: FlyMachinesClient;

beforeEach(async () => {
  emulator = await startEmulator({
    images: {
      [SLEEPER]: nodeScriptImage(new URL("./fixtures/sleeper.mjs", import.meta.url)),
      [ARGV]: nodeScriptImage(ARGV_SCRIPT, "from-image-cmd"),
    },
  });
  client = new FlyMachinesClient({ apiUrl: emulator.url, token: TOKEN, app: APP });
});
afterEach(async () => {
  expect(emulator.violations).toEqual([]);
  await emulator.close();
});

/** A raw request, for shapes our typed client would never send. */
async function raw(method: string, path: string, body?: unknown) {
  const response = await fetch(`${emulator.url}/v1/apps/${APP}/machines${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

describe("the description the checks come from", () => {
  it("is fly-openapi-sdk's go/api/openapi.yaml at a recorded commit", () => {
    expect(OPENAPI_SOURCE).toMatchObject({
      repository: "https://github.com/superfly/fly-openapi-sdk",
      path: "go/api/openapi.yaml",
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain(OPENAPI_SOURCE.commit);
  });

  it("catches an emulator answer that does not fit (responses are checked too)", () => {
    const description = new FlyApiDescription();
    expect(description.checkResponse("Machines_show", 200, { id: 7 })).toBe("id must be string");
    expect(description.checkResponse("Machines_show", 200, { id: "x", colour: "red" })).toBe(
      "unknown field colour",
    );
    expect(description.checkResponse("Machines_show", 404, { message: "no" })).toMatch(
      /unknown field/,
    );
  });
});

describe("every request FlyBackend sends is checked against the description", () => {
  it("cold and warm boots, stops, exits and reaping use only described operations, all valid", async () => {
    const parent = await TestParent.start();
    try {
      for (const options of [{}, { warm: { stopped: 1 } }]) {
        const backend = backendFor(emulator, options);
        for (let i = 0; i < 2; i++) {
          const req = bootRequest(parent.url);
          const runner = await backend.boot(req);
          await parent.hello(req.runnerId);
          if (i === 0) await runner.stop();
          else {
            parent.tellExit(req.runnerId, 0);
            await runner.exited;
          }
        }
        await backend.reapOrphans({ olderThanMs: 0 });
      }
    } finally {
      await parent.close();
    }
    expect(emulator.requests.filter((r) => r.operation === undefined)).toEqual([]);
    expect(emulator.requests.filter((r) => r.status === 400)).toEqual([]);
    const used = new Set(emulator.requests.map((r) => r.operation));
    for (const op of [
      "Machines_create",
      "Machines_show",
      "Machines_wait",
      "Machines_stop",
      "Machines_list",
      "Machines_update",
      "Machines_start",
      "Machines_create_lease",
      "Machines_release_lease",
    ])
      expect(used).toContain(op);
  });

  it.each([
    [
      { config: { image: SLEEPER, guest: { memoryMb: 1024 } } },
      "unknown field config.guest.memoryMb",
    ],
    [{ config: { image: SLEEPER }, regions: ["ord"] }, "unknown field regions"],
    [{ config: { image: SLEEPER, guest: { cpus: "2" } } }, "config.guest.cpus must be integer"],
    [{ config: { image: SLEEPER, autoDestroy: true } }, "unknown field config.autoDestroy"],
    [{ config: { image: SLEEPER, init: { command: ["x"] } } }, "unknown field config.init.command"],
  ])("a create body %j is refused: %s", async (body, message) => {
    expect(await raw("POST", "", body)).toEqual({ status: 400, body: { error: message } });
    expect(emulator.machines()).toEqual([]);
  });

  it("query parameters and path shapes are checked too", async () => {
    const { id } = await client.createMachine({ config: { image: SLEEPER } });
    expect(await raw("GET", `/${id}/wait?state=sleeping`)).toMatchObject({ status: 400 });
    expect(await raw("GET", `/${id}/wait?state=started&timout=5`)).toMatchObject({
      status: 400,
      body: { error: "query unknown field timout" },
    });
    expect(await raw("DELETE", `/${id}?forse=true`)).toMatchObject({ status: 400 });
    expect(await raw("POST", `/${id}/explode`)).toMatchObject({ status: 404 });
    expect(await raw("PUT", `/${id}`, {})).toMatchObject({ status: 404 });
    expect(await raw("POST", `/${id}/start`, { now: true })).toMatchObject({
      status: 400,
      body: { error: "this endpoint takes no request body" },
    });
    await client.destroyMachine(id, true);
  });
});

describe("documented Machine states and transitions", () => {
  it("created → starting → started → suspending → suspended → (resume) started → stopping → stopped → destroyed", async () => {
    const created = await client.createMachine({ config: { image: SLEEPER }, skip_launch: true });
    const id = created.id;
    expect(created.state).toBe("created");
    await client.startMachine(id);
    expect(await client.waitForState(id, { state: "started", timeout: 10 })).toBe(true);
    const pid = emulator.pid(id);

    await client.suspendMachine(id);
    expect(await client.waitForState(id, { state: "suspended", timeout: 10 })).toBe(true);
    // Suspended = the same process, frozen (memory kept), not a new one.
    expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0]).toBe("T");
    await client.startMachine(id);
    expect(await client.waitForState(id, { state: "started", timeout: 10 })).toBe(true);
    expect(emulator.pid(id)).toBe(pid);

    await client.stopMachine(id, { timeout: "5s" });
    const { instance_id } = await client.getMachine(id);
    expect(await client.waitForState(id, { state: "stopped", instance_id, timeout: 10 })).toBe(
      true,
    );
    await client.destroyMachine(id, false); // stopped: no force needed
    expect(await client.waitForState(id, { state: "destroyed", timeout: 10 })).toBe(true);
    expect(emulator.history(id)).toEqual([
      "created",
      "starting",
      "started",
      "suspending",
      "suspended",
      "starting",
      "started",
      "stopping",
      "stopped",
      "destroying",
      "destroyed",
    ]);
  });

  it("refuses transitions the docs do not allow (412)", async () => {
    const { id } = await client.createMachine({ config: { image: SLEEPER } });
    await client.waitForState(id, { state: "started", timeout: 10 });
    await expect(client.startMachine(id)).rejects.toMatchObject({ status: 412 });
    await expect(client.destroyMachine(id, false)).rejects.toMatchObject({ status: 412 });
    await client.destroyMachine(id, true);
    await expect(client.suspendMachine(id)).rejects.toMatchObject({ status: 404 });
  });
});

describe("leases", () => {
  it("one holder at a time; changes need its nonce; release frees it", async () => {
    const { id } = await client.createMachine({ config: { image: SLEEPER } });
    await client.waitForState(id, { state: "started", timeout: 10 });
    const lease = await client.acquireLease(id, { ttl: 30, description: "parent a" });
    expect(emulator.leaseOf(id)?.nonce).toBe(lease.nonce);
    const second = await client.acquireLease(id, { ttl: 30 }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(FlyApiError);
    expect((second as FlyApiError).status).toBe(409);
    await expect(client.stopMachine(id, {})).rejects.toMatchObject({ status: 412 });
    await expect(client.stopMachine(id, {}, { leaseNonce: "not-the-nonce" })).rejects.toMatchObject(
      { status: 412 },
    );
    await client.stopMachine(id, { timeout: "5s" }, { leaseNonce: lease.nonce });
    const sent = emulator.requests.at(-1);
    expect(sent).toMatchObject({ operation: "Machines_stop", status: 200 });
    await client.releaseLease(id, lease.nonce);
    expect(emulator.leaseOf(id)).toBeUndefined();
    await client.destroyMachine(id, true);
    expect(LEASE_NONCE_HEADER).toBe("fly-machine-lease-nonce");
  });
});

describe("ENTRYPOINT / CMD / init", () => {
  async function argvOf(init: Record<string, string[]> | undefined): Promise<string[]> {
    const { id } = await client.createMachine({
      config: { image: ARGV, ...(init ? { init } : {}) },
    });
    await emulator.waitFor(id, "stopped");
    const line = emulator.stderr(id).find((l) => l.startsWith("argv "));
    return JSON.parse(line?.slice(5) ?? "null") as string[];
  }

  it("runs the image's ENTRYPOINT + CMD, and init overrides them as Fly documents", async () => {
    expect(await argvOf(undefined)).toEqual([ARGV_SCRIPT, "from-image-cmd"]);
    expect(await argvOf({ cmd: [ARGV_SCRIPT, "from-init-cmd"] })).toEqual([
      ARGV_SCRIPT,
      "from-init-cmd",
    ]);
    // init.entrypoint replaces ENTRYPOINT only: the image's CMD follows it.
    expect(
      await argvOf({ entrypoint: [process.execPath, ARGV_SCRIPT, "from-entrypoint"] }),
    ).toEqual([ARGV_SCRIPT, "from-entrypoint", ARGV_SCRIPT, "from-image-cmd"]);
    expect(
      await argvOf({ exec: [process.execPath, ARGV_SCRIPT, "from-exec"], cmd: ["ignored"] }),
    ).toEqual([ARGV_SCRIPT, "from-exec"]);
  });
});
