/** serveTelemetry against strangers: browser origins, too many clients, no token, resync floods. */
import { afterEach, describe, expect, it } from "vitest";
import type { LogLevel } from "../../src/index.js";
import { serveTelemetry, type TelemetryServerMessage } from "../../src/telemetry.js";
import { Client, fakePool, upgradeStatus } from "./server-harness.js";

describe("serveTelemetry hardening", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = <T extends { close(): unknown }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };

  it("refuses a browser Origin with 403 at the upgrade unless it is listed", async () => {
    const server = track(
      await serveTelemetry({
        pools: [fakePool("p")],
        allowedOrigins: ["https://ops.example"],
        snapshotIntervalMs: 0,
      }),
    );
    expect(await upgradeStatus(server.url, { headers: { origin: "https://evil.example" } })).toBe(
      403,
    );
    expect(await upgradeStatus(server.url, { origin: "https://evil.example" })).toBe(403);
    // A listed origin, and a non-browser client (no Origin header), get through.
    expect(await upgradeStatus(server.url, { headers: { origin: "https://ops.example" } })).toBe(
      101,
    );
    expect(await upgradeStatus(server.url)).toBe(101);

    // By default no browser origin at all is allowed, even with the right token.
    const locked = track(
      await serveTelemetry({ pools: [fakePool("q")], token: "t0k", snapshotIntervalMs: 0 }),
    );
    expect(
      await upgradeStatus(locked.url, {
        headers: { origin: "http://127.0.0.1:3000", authorization: "Bearer t0k" },
      }),
    ).toBe(403);
    expect(await upgradeStatus(locked.url, { headers: { authorization: "Bearer t0k" } })).toBe(101);
  });

  it("caps clients with maxClients (503), and takes a new one once a slot frees", async () => {
    const server = track(
      await serveTelemetry({ pools: [fakePool("p")], maxClients: 2, snapshotIntervalMs: 0 }),
    );
    const first = new Client(server.url);
    const second = track(new Client(server.url));
    await first.opened;
    await second.opened;
    expect(server.clientCount).toBe(2);
    expect(await upgradeStatus(server.url)).toBe(503);
    const closed = new Promise<void>((resolve) => first.ws.once("close", () => resolve()));
    first.ws.close();
    await closed;
    await second.until("the server to see the close", () => server.clientCount === 1);
    expect(await upgradeStatus(server.url)).toBe(101);
  });

  it("warns through `log` when bound beyond loopback without a token", async () => {
    const logged: Array<[LogLevel, string]> = [];
    const log = (level: LogLevel, message: string) => logged.push([level, message]);
    // 192.0.2.1 (TEST-NET-1) is on no interface: the listen fails after the check, so the
    // test never exposes a port.
    await expect(
      serveTelemetry({ pools: [fakePool("p")], host: "192.0.2.1", log }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "port" });
    expect(logged).toHaveLength(1);
    expect(logged[0]?.[0]).toBe("warn");
    expect(logged[0]?.[1]).toMatch(/192\.0\.2\.1 without a token.*Pass `token`/);

    await expect(
      serveTelemetry({ pools: [fakePool("p")], host: "192.0.2.1", token: "t", log }),
    ).rejects.toMatchObject({ field: "port" });
    track(await serveTelemetry({ pools: [fakePool("p")], host: "127.0.0.1", log }));
    track(await serveTelemetry({ pools: [fakePool("p")], host: "::1", log }));
    expect(logged).toHaveLength(1);
  });

  it("honours one resync per resyncIntervalMs per client and ignores the flood", async () => {
    const pool = fakePool("p");
    const server = track(
      await serveTelemetry({
        pools: [pool],
        snapshotIntervalMs: 0,
        historyMs: 0,
        resyncIntervalMs: 60_000,
      }),
    );
    const client = track(new Client(server.url));
    await client.until("the first snapshot", () => snapshots(client.messages) === 1);
    for (let i = 0; i < 20; i++) client.ws.send(JSON.stringify({ type: "resync" }));
    // A control message is answered in order: once its result is here, every resync was read.
    client.ws.send(
      JSON.stringify({
        type: "control",
        id: "barrier",
        pool: "p",
        action: "killRunner",
        runnerId: "x",
      }),
    );
    await client.until("the barrier", () =>
      client.messages.some((m) => m.type === "controlResult"),
    );
    expect(snapshots(client.messages)).toBe(2);

    // Another client has its own allowance.
    const other = track(new Client(server.url));
    await other.until("its snapshot", () => snapshots(other.messages) === 1);
    other.ws.send(JSON.stringify({ type: "resync", pool: "p" }));
    await other.until("its resync", () => snapshots(other.messages) === 2);
  });

  it("validates the new options, naming the field", async () => {
    const p = fakePool("x");
    await expect(
      serveTelemetry({ pools: [p], allowedOrigins: ["https://ok.example/path"] }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "allowedOrigins" });
    await expect(serveTelemetry({ pools: [p], maxClients: 0 })).rejects.toMatchObject({
      field: "maxClients",
    });
    await expect(serveTelemetry({ pools: [p], control: true })).rejects.toMatchObject({
      field: "control",
      message: expect.stringMatching(/token/),
    });
    await expect(serveTelemetry({ pools: [p], historyMs: -1 })).rejects.toMatchObject({
      field: "historyMs",
    });
    await expect(serveTelemetry({ pools: [p], samplePeriodMs: 0 })).rejects.toMatchObject({
      field: "samplePeriodMs",
    });
    await expect(
      serveTelemetry({ pools: [p], log: "loud" as unknown as false }),
    ).rejects.toMatchObject({ field: "log" });
  });
});

function snapshots(messages: readonly TelemetryServerMessage[]): number {
  return messages.filter((m) => m.type === "snapshot").length;
}
