// Runners in their own Fly app, holding none of the parent's secrets, and a reaper that looks
// the parent up in the parent's app (issue 12, Fly items).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FlyMachinesClient } from "../src/client.js";
import type { FlyBackend } from "../src/fly-backend.js";
import type { Machine } from "../src/machines-api.js";
import type { FlyEmulator } from "./emulator/server.js";
import { backendFor, bootRequest, DIAL_IMAGE, startEmulator, TestParent } from "./helpers.js";

const WEB_APP = "flame-web"; // the parent: holds the secrets
const RUNNER_APP = "flame-runners"; // the runners: no secrets at all
const WEB_SECRETS = { DATABASE_URL: "postgres://secret", FLY_API_TOKEN: "deploy-token-of-web" };
const RUNNERS_ONLY_TOKEN = "token-for-runner-app-only";

let emulator: FlyEmulator;
let parent: TestParent;
let web: FlyMachinesClient;
let parentMachine: Machine;

beforeEach(async () => {
  emulator = await startEmulator({
    app: RUNNER_APP,
    apps: { [WEB_APP]: { secrets: WEB_SECRETS } },
    scopedTokens: { [RUNNERS_ONLY_TOKEN]: [RUNNER_APP] },
  });
  parent = await TestParent.start();
  web = backendFor(emulator, { app: WEB_APP }).client;
  // The parent itself is a Machine of the web app (it dials the test parent to show its env).
  const req = bootRequest(parent.url, { runnerId: "web-parent" });
  parentMachine = await web.createMachine({ config: { image: DIAL_IMAGE, env: req.env } });
  await parent.hello("web-parent");
});
afterEach(async () => {
  expect(emulator.violations).toEqual([]);
  await emulator.close();
  await parent.close();
});

/** FlyBackend as the parent Machine would build it: Fly's env of the web app, runners elsewhere. */
function parentBackend(): FlyBackend {
  return backendFor(emulator, {
    app: RUNNER_APP,
    processEnv: {
      FLY_APP_NAME: WEB_APP,
      FLY_MACHINE_ID: parentMachine.id,
      FLY_MACHINE_VERSION: parentMachine.instance_id,
    },
  });
}

async function bootRunner(backend: FlyBackend) {
  const req = bootRequest(parent.url, { parentId: "web-parent-process" });
  const runner = await backend.boot(req);
  return { runner, hello: await parent.hello(req.runnerId), id: runner.meta.machineId ?? "" };
}

describe("runners in a separate Fly app", () => {
  it("a runner Machine gets none of the parent app's secrets", async () => {
    const parentHello = await parent.hello("web-parent");
    expect(parentHello.env).toEqual(expect.arrayContaining(Object.keys(WEB_SECRETS)));

    const { hello, id } = await bootRunner(parentBackend());
    expect(hello.env).not.toContain("DATABASE_URL");
    expect(hello.env).not.toContain("FLY_API_TOKEN");
    const machine = emulator.machine(id);
    expect(emulator.machines(RUNNER_APP).map((m) => m.id)).toContain(id);
    expect(machine?.config.metadata).toMatchObject({
      flame_parent_app: WEB_APP,
      flame_parent_machine: parentMachine.id,
      flame_parent_instance: parentMachine.instance_id,
    });
  });

  it("another parent's reaper keeps the runners of a live parent that lives in another app", async () => {
    const { id } = await bootRunner(parentBackend());
    const otherParent = backendFor(emulator, { app: RUNNER_APP });
    const result = await otherParent.reapOrphans({ olderThanMs: 0 });
    expect(result).toEqual({ destroyed: [], kept: [id] });
    // The lookup went to the parent's own app.
    const lookups = emulator.requests.filter((r) =>
      r.path.endsWith(`/machines/${parentMachine.id}`),
    );
    expect(lookups.map((r) => r.path)).toEqual([
      `/v1/apps/${WEB_APP}/machines/${parentMachine.id}`,
    ]);
  });

  it("in doubt (a token that cannot read the parent's app) the runner is kept", async () => {
    const { id } = await bootRunner(parentBackend());
    await web.destroyMachine(parentMachine.id, true); // even a dead parent: we cannot know
    const scoped = backendFor(emulator, { app: RUNNER_APP, token: RUNNERS_ONLY_TOKEN });
    const result = await scoped.reapOrphans({ olderThanMs: 0 });
    expect(result).toEqual({ destroyed: [], kept: [id] });
    expect(emulator.requests.some((r) => r.status === 401)).toBe(true);
  });

  it("a parent API error counts as alive, never as dead", async () => {
    const { id } = await bootRunner(parentBackend());
    emulator.rateLimitNext("get", 1);
    const result = await backendFor(emulator, { app: RUNNER_APP }).reapOrphans({ olderThanMs: 0 });
    expect(result.kept).toEqual([id]);
  });

  it("a destroyed parent's runners are reaped", async () => {
    const { id } = await bootRunner(parentBackend());
    await web.destroyMachine(parentMachine.id, true);
    const result = await backendFor(emulator, { app: RUNNER_APP }).reapOrphans({ olderThanMs: 0 });
    expect(result.destroyed).toEqual([id]);
  });

  it("a parent Machine replaced in place (new version, e.g. a deploy) leaves orphans that are reaped", async () => {
    const { id } = await bootRunner(parentBackend());
    await web.stopMachine(parentMachine.id, { timeout: "5s" });
    await emulator.waitFor(parentMachine.id, "stopped");
    const updated = await web.updateMachine(parentMachine.id, {
      config: { ...parentMachine.config, env: { ...parentMachine.config.env, DEPLOY: "2" } },
    });
    await emulator.waitFor(parentMachine.id, "started");
    expect(updated.instance_id).not.toBe(parentMachine.instance_id);
    const result = await backendFor(emulator, { app: RUNNER_APP }).reapOrphans({ olderThanMs: 0 });
    expect(result.destroyed).toEqual([id]);
  });
});
