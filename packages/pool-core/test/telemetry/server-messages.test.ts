/**
 * serveTelemetry and the text of failures (issue 22, row 10): a local user who connects to a
 * server started without a token reads no failure message (a thrown `password=…`, a boot
 * error, a runner's last stderr line); codes and counts still reach them. With the token, or with the explicit
 * `errorMessages: true`, the messages are there.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LocalBackend, Pool } from "../../src/index.js";
import { type PoolEvent, serveTelemetry } from "../../src/telemetry.js";
import { connect, double } from "./fixtures/functions.mjs";
import { Client, fakePool } from "./server-harness.js";

const entry = new URL("./fixtures/functions.mjs", import.meta.url);
const SECRET = "hunter2-s3cr3t";
const TOKEN = "telemetry-t0ken";

const failedCalls = (events: readonly PoolEvent[]) =>
  events.filter(
    (e): e is Extract<PoolEvent, { type: "callFinished" }> => e.type === "callFinished" && !e.ok,
  );
const historyEvents = (client: Client): readonly PoolEvent[] =>
  client.messages.flatMap((m) => (m.type === "history" ? m.history.events : []));
/** Everything the client received, as the text that came over the wire. */
const received = (client: Client) => JSON.stringify(client.messages);

describe("serveTelemetry failure messages", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = <T extends { close(): unknown }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };

  it("withholds a failed call's message from a client without a token; shows it with the token or errorMessages: true", {
    timeout: 60_000,
  }, async () => {
    const pool = new Pool({
      name: "secrets",
      min: 1,
      max: 1,
      shutdownTimeout: 5_000,
      backend: new LocalBackend({ entry }),
    });
    cleanups.push(() => pool.stop());
    // Defaults: 127.0.0.1, no token. A second server holds a token, a third opts in.
    const open = track(await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0 }));
    const guarded = track(
      await serveTelemetry({ pools: [pool], token: TOKEN, snapshotIntervalMs: 0 }),
    );
    const optedIn = track(
      await serveTelemetry({ pools: [pool], errorMessages: true, snapshotIntervalMs: 0 }),
    );
    expect(open.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const stranger = track(new Client(open.url));
    const operator = track(
      new Client(guarded.url, { headers: { authorization: `Bearer ${TOKEN}` } }),
    );
    const optedInClient = track(new Client(optedIn.url));
    await Promise.all([stranger.opened, operator.opened, optedInClient.opened]);
    await pool.start();

    await expect(pool.call(connect, SECRET)).rejects.toMatchObject({
      code: "REMOTE_ERROR",
      message: expect.stringContaining(`password=${SECRET}`),
    });
    await expect(pool.call(double, 21)).resolves.toBe(42);
    for (const client of [stranger, operator, optedInClient]) {
      await client.until("both calls", () =>
        client.events().some((e) => e.type === "callFinished" && e.ok),
      );
    }

    // The stranger learns that the call failed, how and where, but not what it said.
    const [thrown] = failedCalls(stranger.events());
    expect(thrown).toMatchObject({
      fn: "telemetry.connect",
      errorCode: "REMOTE_ERROR",
      runnerId: expect.any(String),
    });
    expect(thrown?.errorMessage).toMatch(/withheld/);
    expect(received(stranger)).not.toContain(SECRET);
    expect(received(stranger)).not.toContain("password=");

    // A client that connects later reads the history: withheld there too, counted all the same.
    const late = track(new Client(open.url));
    await late.until("history", () => late.messages.some((m) => m.type === "snapshot"));
    expect(failedCalls(historyEvents(late))).toHaveLength(1);
    const figures = late.messages.flatMap((m) => (m.type === "history" ? m.history.functions : []));
    expect(figures.find((f) => f.fn === "telemetry.connect")).toMatchObject({
      failed: 1,
      errors: { REMOTE_ERROR: 1 },
    });
    expect(received(late)).not.toContain(SECRET);

    // With the token, and with the explicit opt-in, the message is there, live and in history.
    for (const client of [operator, optedInClient]) {
      expect(failedCalls(client.events())[0]?.errorMessage).toContain(`password=${SECRET}`);
    }
    const lateOperator = track(
      new Client(guarded.url, { headers: { authorization: `Bearer ${TOKEN}` } }),
    );
    await lateOperator.until("history", () =>
      lateOperator.messages.some((m) => m.type === "snapshot"),
    );
    expect(failedCalls(historyEvents(lateOperator))[0]?.errorMessage).toContain(SECRET);
  });

  it("withholds boot errors and exit reasons without a token, keeps the events and codes", async () => {
    const pool = fakePool("boots");
    const open = track(await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0 }));
    const guarded = track(
      await serveTelemetry({ pools: [pool], token: TOKEN, snapshotIntervalMs: 0 }),
    );
    const stranger = track(new Client(open.url));
    const operator = track(
      new Client(guarded.url, { headers: { authorization: `Bearer ${TOKEN}` } }),
    );
    await Promise.all([stranger.opened, operator.opened]);
    const leak = `password=${SECRET}`;
    pool.events.emit({
      type: "growEnd",
      bootId: "b1",
      count: 0,
      ok: false,
      error: leak,
      permanent: true,
      bootMs: 5,
    });
    pool.events.emit({ type: "bootFailed", bootId: "b1", error: leak, bootMs: 5 });
    pool.events.emit({
      type: "runnerDown",
      runnerId: "r1",
      reason: `runner exited (code 1): ${leak}`,
      exitCode: 1,
      expected: false,
    });
    pool.events.emit({ type: "shrink", runnerId: "r1", count: 0, reason: leak });
    pool.events.emit({
      type: "runnerKilled",
      runnerId: "r2",
      reason: "did not exit within shutdownTimeout (5000 ms)",
      abandoned: false,
    });
    for (const client of [stranger, operator]) {
      await client.until("five events", () => client.events().length === 5);
    }
    expect(stranger.events().map((e) => e.type)).toEqual([
      "growEnd",
      "bootFailed",
      "runnerDown",
      "shrink",
      "runnerKilled",
    ]);
    expect(stranger.events()[0]).toMatchObject({ ok: false, permanent: true, bootMs: 5 });
    expect(stranger.events()[2]).toMatchObject({ exitCode: 1, expected: false });
    // The pool's own words are kept.
    expect(stranger.events()[4]).toMatchObject({
      reason: expect.stringContaining("shutdownTimeout"),
    });
    expect(received(stranger)).not.toContain(SECRET);
    expect(received(operator).split(SECRET)).toHaveLength(5);
  });

  it("validates errorMessages", async () => {
    await expect(
      serveTelemetry({ pools: [fakePool("x")], errorMessages: "yes" as unknown as boolean }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "errorMessages" });
  });
});
