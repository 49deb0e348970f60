import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlyApiError, FlyMachinesClient } from "../src/client.js";
import { nodeScriptImage } from "./emulator/images.js";
import { FlyEmulator, NO_LATENCY_MS } from "./emulator/server.js";
import { APP, TOKEN } from "./helpers.js";

// A machine whose process just waits until it is signalled.
const SLEEPER = "registry.fly.io/flame-test:sleeper";
const SLEEPER_IMAGE = nodeScriptImage(new URL("./fixtures/sleeper.mjs", import.meta.url));

let emulator: FlyEmulator;
let client: FlyMachinesClient;

beforeEach(async () => {
  emulator = await FlyEmulator.start({
    token: TOKEN,
    app: APP,
    images: { [SLEEPER]: SLEEPER_IMAGE },
    latencyMs: NO_LATENCY_MS,
  });
  client = new FlyMachinesClient({ apiUrl: emulator.url, token: TOKEN, app: APP });
});
afterEach(async () => {
  await emulator.close();
});

describe("FlyMachinesClient against the emulator", () => {
  it("creates a Machine that really runs, gets it, waits for it and stops it", async () => {
    const created = await client.createMachine({
      name: "client-one",
      config: { image: SLEEPER, auto_destroy: true, restart: { policy: "no" }, env: { A: "1" } },
    });
    expect(created).toMatchObject({
      name: "client-one",
      state: "created",
      config: { env: { A: "1" } },
    });
    expect(await client.waitForState(created.id, { state: "started", timeout: 10 })).toBe(true);
    expect(emulator.pid(created.id)).toBeTypeOf("number");
    expect((await client.getMachine(created.id)).state).toBe("started");

    await client.stopMachine(created.id, { signal: "SIGINT", timeout: "5s" });
    expect(
      await client.waitForState(created.id, {
        state: "stopped",
        instance_id: created.instance_id,
        timeout: 10,
      }),
    ).toBe(true);
    // auto_destroy: the stopped Machine is gone from the list.
    expect((await client.getMachine(created.id)).state).toBe("destroyed");
    expect(await client.listMachines()).toEqual([]);
  });

  it("answers wait with 408 (false) when the state is not reached in time", async () => {
    const created = await client.createMachine({ config: { image: SLEEPER } });
    await client.waitForState(created.id, { state: "started", timeout: 10 });
    expect(await client.waitForState(created.id, { state: "destroyed", timeout: 1 })).toBe(false);
    await client.destroyMachine(created.id, true);
  });

  it("refuses wait for stopped without instance_id, as Fly documents", async () => {
    const created = await client.createMachine({ config: { image: SLEEPER } });
    const error = await client
      .waitForState(created.id, { state: "stopped", timeout: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlyApiError);
    expect((error as FlyApiError).status).toBe(400);
    await client.destroyMachine(created.id, true);
  });

  it("filters the list by metadata", async () => {
    const a = await client.createMachine({
      config: { image: SLEEPER, metadata: { flame_pool: "a" } },
    });
    const b = await client.createMachine({
      config: { image: SLEEPER, metadata: { flame_pool: "b" } },
    });
    const onlyA = await client.listMachines({ metadata: { flame_pool: "a" } });
    expect(onlyA.map((m) => m.id)).toEqual([a.id]);
    expect((await client.listMachines()).map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
    await client.destroyMachine(a.id, true);
    await client.destroyMachine(b.id, true);
  });

  it("refuses to destroy a running Machine without force (412) and kills it with force", async () => {
    const created = await client.createMachine({ config: { image: SLEEPER } });
    await client.waitForState(created.id, { state: "started", timeout: 10 });
    const error = await client.destroyMachine(created.id, false).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 412 });
    await client.destroyMachine(created.id, true);
    expect((await client.getMachine(created.id)).state).toBe("destroyed");
    expect(emulator.pid(created.id)).toBeUndefined();
  });

  it("rejects a misnamed field with 400 and Fly's error message", async () => {
    const body = { config: { image: SLEEPER, guest: { memoryMb: 512 } } };
    const error = await client.createMachine(body as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlyApiError);
    expect(error).toMatchObject({ status: 400, flyMessage: "unknown field config.guest.memoryMb" });
    expect(emulator.machines()).toEqual([]);
  });

  it("reports a bad token as 401 with a hint about FLY_API_TOKEN", async () => {
    const bad = new FlyMachinesClient({ apiUrl: emulator.url, token: "wrong", app: APP });
    const error = await bad.listMachines().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toMatch(/HTTP 401.*FLY_API_TOKEN/);
  });

  it("reports an unknown machine as 404", async () => {
    await expect(client.getMachine("nope")).rejects.toMatchObject({
      status: 404,
      flyMessage: "machine not found",
    });
  });

  // "No 429" holds by construction, under any event-loop lag: a request leaves only when Fly's
  // bucket has room for it even if every earlier one was counted as late as possible, i.e.
  // when its answer came (rate-limit.ts). The emulator is the only user of the budget here.
  it("paces requests so Fly's per-action limit (burst 3, then 1/s) gives no 429", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await client.createMachine({ config: { image: SLEEPER } })).id);
    expect(emulator.requests.filter((r) => r.status === 429)).toEqual([]);
    for (const id of ids) await client.destroyMachine(id, true);
  });

  it("paces by answers, not departures: requests slow to reach Fly (a lagging event loop) leave no later one a 429", async () => {
    // The first three creates take 1.2 s between leaving the client and being counted by the
    // emulator (what a lagging event loop or network does to a request, made deterministic):
    // a pacer counting departures lets the fourth leave after ~1.1 s, and the emulator then
    // counts four creates within a second (a 429). Paced by answers, the fourth waits for them.
    let delayed = 0;
    const lagging = new FlyMachinesClient({
      apiUrl: emulator.url,
      token: TOKEN,
      app: APP,
      fetch: async (input, init) => {
        if (init?.method === "POST" && delayed++ < 3) await sleep(1_200);
        return fetch(input, init);
      },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => lagging.createMachine({ config: { image: SLEEPER } })),
    );
    const creates = emulator.requests.filter((r) => r.operation === "Machines_create");
    expect(creates.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("fulfilled"));
    for (const m of emulator.machines()) await client.destroyMachine(m.id, true);
  });

  it("without pacing, the emulator enforces the limit with 429 and Retry-After", async () => {
    const unpaced = new FlyMachinesClient({
      apiUrl: emulator.url,
      token: TOKEN,
      app: APP,
      pace: false,
    });
    // Back to back until one is refused: five at once assumed they all arrive within a second,
    // which a loaded machine does not keep; this only needs more than 1 create/s on average.
    let refused: unknown;
    for (let i = 0; i < 50 && refused === undefined; i++)
      refused = await unpaced.createMachine({ config: { image: SLEEPER } }).then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toMatchObject({ status: 429, retryAfterMs: 1000 });
    for (const m of emulator.machines()) await client.destroyMachine(m.id, true);
  });
});
