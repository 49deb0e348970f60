/** serveTelemetry's operator actions on a real pool: opt-in, token-gated, recorded as events. */
import { afterEach, describe, expect, it } from "vitest";
import { LocalBackend, Pool } from "../../src/index.js";
import { serveTelemetry, type TelemetryServerMessage } from "../../src/telemetry.js";
import { Client, fakePool } from "./server-harness.js";

const entry = new URL("./fixtures/functions.mjs", import.meta.url);
const TOKEN = "control-t0ken";

type Result = Extract<TelemetryServerMessage, { type: "controlResult" }>;

describe("serveTelemetry control", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = <T extends { close(): unknown }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };

  async function ask(
    client: Client,
    id: string,
    request: Record<string, unknown>,
  ): Promise<Result> {
    await client.opened;
    client.ws.send(JSON.stringify({ type: "control", id, ...request }));
    await client.until(`the result of ${id}`, () =>
      client.messages.some((m) => m.type === "controlResult" && m.id === id),
    );
    return client.messages.find((m): m is Result => m.type === "controlResult" && m.id === id)!;
  }

  it("drains, kills and resizes a real pool, each recorded as a control event naming who asked", {
    timeout: 60_000,
  }, async () => {
    const pool = new Pool({
      name: "ops",
      min: 2,
      max: 3,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry }),
    });
    cleanups.push(() => pool.stop());
    await pool.start();
    const server = track(
      await serveTelemetry({ pools: [pool], token: TOKEN, control: true, snapshotIntervalMs: 0 }),
    );
    const client = track(new Client(server.url, { headers: { authorization: `Bearer ${TOKEN}` } }));
    await client.until("hello", () => client.messages.some((m) => m.type === "hello"));
    expect(client.messages[0]).toMatchObject({ type: "hello", control: true });
    const [first, second] = pool.snapshot().runners.map((r) => r.id);

    const drained = await ask(client, "1", {
      pool: "ops",
      action: "drainRunner",
      runnerId: first,
      by: "alice",
    });
    expect(drained).toMatchObject({ ok: true, detail: expect.stringContaining(first!) });
    await client.until("the drained runner to leave", () =>
      client.events().some((e) => e.type === "runnerDown" && e.runnerId === first),
    );
    const control = client.events().find((e) => e.type === "control");
    expect(control).toMatchObject({ action: "drainRunner", target: first, by: "alice", ok: true });
    // The control event was sent before the result that answers it.
    const controlIndex = client.messages.findIndex(
      (m) => m.type === "events" && m.events.some((e) => e.type === "control"),
    );
    const resultIndex = client.messages.findIndex((m) => m.type === "controlResult");
    expect(controlIndex).toBeLessThan(resultIndex);

    const killed = await ask(client, "2", { pool: "ops", action: "killRunner", runnerId: second });
    expect(killed.ok).toBe(true);
    await client.until("the killed runner down", () =>
      client.events().some((e) => e.type === "runnerDown" && e.runnerId === second),
    );
    expect(
      client
        .events()
        .filter((e) => e.type === "control")
        .at(-1),
    ).toMatchObject({
      action: "killRunner",
      by: "telemetry client",
    });

    const resized = await ask(client, "3", {
      pool: "ops",
      action: "resize",
      min: 0,
      max: 1,
      by: "bob",
    });
    expect(resized).toMatchObject({ ok: true, detail: "pool ops resized to min 0, max 1." });
    expect(pool.snapshot()).toMatchObject({ min: 0, max: 1 });
    await client.until("the resize event", () => client.events().some((e) => e.type === "resize"));

    // Refusals say why.
    const unknownRunner = await ask(client, "4", {
      pool: "ops",
      action: "killRunner",
      runnerId: "nope",
    });
    expect(unknownRunner).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/"nope".*not running/),
    });
    const badLimits = await ask(client, "5", { pool: "ops", action: "resize", min: 3, max: 1 });
    expect(badLimits.ok).toBe(false);
    expect(badLimits.detail).toMatch(/min/);
    const noPool = await ask(client, "6", { pool: "other", action: "resize", min: 0, max: 1 });
    expect(noPool).toMatchObject({ ok: false, detail: 'no pool named "other" on this server.' });
  });

  it("refuses every action when control is not enabled", async () => {
    const pool = fakePool("ro");
    const server = track(await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0 }));
    const client = track(new Client(server.url));
    const result = await ask(client, "x", { pool: "ro", action: "resize", min: 0, max: 1 });
    expect(result).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/control is disabled/),
    });
    expect(client.messages[0]).toMatchObject({ type: "hello", control: false });
  });
});
