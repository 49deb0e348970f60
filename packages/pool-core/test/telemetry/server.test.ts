import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LocalBackend, Pool } from "../../src/index.js";
import { serveTelemetry } from "../../src/telemetry.js";
import { double } from "./fixtures/functions.mjs";
import { Client, fakePool } from "./server-harness.js";

const entry = new URL("./fixtures/functions.mjs", import.meta.url);

describe("serveTelemetry", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = <T extends { close(): unknown }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };

  it("sends each pool's snapshot, then its events in order, and re-sends snapshots on request", async () => {
    const a = fakePool("a", { min: 1, max: 3 });
    const b = fakePool("b");
    a.events.emit({ type: "resize", min: 1, max: 3 }); // before anyone listens: seq 1
    const server = track(
      await serveTelemetry({ pools: [a, b], snapshotIntervalMs: 0, historyMs: 0 }),
    );
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/`);
    const client = track(new Client(server.url));
    await client.until("two snapshots", () => client.messages.length >= 3);
    expect(client.messages[0]).toEqual({
      type: "hello",
      version: 2,
      pools: ["a", "b"],
      control: false,
    });
    const [, snapA, snapB] = client.messages;
    expect(snapA).toMatchObject({
      type: "snapshot",
      pool: "a",
      snapshot: { seq: 1, min: 1, max: 3 },
    });
    expect(snapB).toMatchObject({ type: "snapshot", pool: "b", snapshot: { seq: 0 } });

    for (let i = 0; i < 50; i++) {
      a.events.emit({ type: "checkoutTimeout", checkoutId: String(i), waitedMs: i });
      if (i % 10 === 0) b.events.emit({ type: "resize", min: 0, max: i + 1 });
    }
    await client.until("55 events", () => client.events().length >= 55);
    const seqsA = client
      .events()
      .filter((e) => e.pool === "a")
      .map((e) => e.seq);
    const seqsB = client
      .events()
      .filter((e) => e.pool === "b")
      .map((e) => e.seq);
    expect(seqsA).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(seqsB).toEqual([1, 2, 3, 4, 5]);

    const before = client.messages.length;
    client.ws.send(JSON.stringify({ type: "resync", pool: "a" }));
    // Pool b's resizes were each followed by b's snapshot; a's comes only from the resync.
    const resynced = () =>
      client.messages.slice(before).find((m) => m.type === "snapshot" && m.pool === "a");
    await client.until("a fresh snapshot", () => resynced() !== undefined);
    expect(resynced()).toMatchObject({ type: "snapshot", pool: "a", snapshot: { seq: 51 } });
  });

  it("streams a real pool: snapshot, then growStart → runnerUp → callFinished with monotone seq", async () => {
    const pool = new Pool({ name: "live", min: 0, max: 1, backend: new LocalBackend({ entry }) });
    cleanups.push(() => pool.stop());
    const server = track(await serveTelemetry({ pools: [pool], snapshotIntervalMs: 100 }));
    const client = track(new Client(server.url));
    await client.until("the snapshot", () => client.messages.some((m) => m.type === "snapshot"));
    await expect(pool.call(double, 21)).resolves.toBe(42);
    await client.until("callFinished", () =>
      client.events().some((e) => e.type === "callFinished"),
    );
    const types = client.events().map((e) => e.type);
    expect(types.indexOf("growStart")).toBeLessThan(types.indexOf("runnerUp"));
    expect(types.indexOf("runnerUp")).toBeLessThan(types.indexOf("callFinished"));
    const seqs = client.events().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Periodic snapshots carry the runner, with its slots and backend meta.
    await client.until("a snapshot with the runner", () =>
      client.messages.some((m) => m.type === "snapshot" && m.snapshot.runners.length === 1),
    );
    const withRunner = client.messages.findLast((m) => m.type === "snapshot");
    expect(withRunner?.type === "snapshot" && withRunner.snapshot.runners[0]?.meta.pid).toMatch(
      /^\d+$/,
    );
  });

  it("refuses clients without the token, accepts it as query or bearer header", async () => {
    const server = track(
      await serveTelemetry({ pools: [fakePool("p")], token: "s3cret", snapshotIntervalMs: 0 }),
    );
    for (const url of [server.url, `${server.url}?token=wrong`]) {
      const refused = new WebSocket(url);
      refused.on("error", () => {});
      const status = await new Promise<number>((resolve) => {
        refused.once("unexpected-response", (req, res) => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        refused.once("open", () => {
          refused.terminate();
          resolve(101);
        });
      });
      expect(status).toBe(401);
    }
    const byQuery = track(new Client(`${server.url}?token=s3cret`));
    const byHeader = track(new Client(server.url, { headers: { authorization: "Bearer s3cret" } }));
    await byQuery.until("a snapshot", () => byQuery.messages.some((m) => m.type === "snapshot"));
    await byHeader.until("a snapshot", () => byHeader.messages.some((m) => m.type === "snapshot"));
  });

  it("drops a client that stops reading, and keeps serving the others", async () => {
    const pool = fakePool("busy");
    const server = track(
      await serveTelemetry({
        pools: [pool],
        maxBufferedBytes: 256 * 1024,
        snapshotIntervalMs: 0,
        // The filler rides in boot errors: without a token their text would be withheld.
        errorMessages: true,
      }),
    );
    const slow = track(new Client(server.url));
    const fast = track(new Client(server.url));
    await slow.opened;
    await fast.until("a snapshot", () => fast.messages.some((m) => m.type === "snapshot"));
    await slow.until("a snapshot", () => slow.messages.some((m) => m.type === "snapshot"));
    const slowClosed = new Promise<void>((resolve) => slow.ws.once("close", () => resolve()));
    // Stop reading: the kernel buffers fill, then the server's send buffer grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const filler = "x".repeat(64 * 1024);
    let emitted = 0;
    const emitBatch = async () => {
      for (let i = 0; i < 16; i++) {
        pool.events.emit({ type: "bootFailed", bootId: `b${emitted++}`, error: filler, bootMs: 1 });
      }
      await new Promise((resolve) => setImmediate(resolve));
      // Let the fast client drain so only the slow one falls behind.
      await fast.until("its events", () => fast.events().length >= emitted, 10_000);
    };
    const deadline = Date.now() + 20_000;
    while (server.clientCount > 1) {
      if (Date.now() > deadline) throw new Error("the slow client was never dropped");
      await emitBatch();
    }
    expect(server.clientCount).toBe(1);
    const emittedBeforeDrop = emitted;
    await emitBatch();
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await slowClosed;
    // What the socket buffers held when it was dropped may still arrive (how much depends on the
    // kernel's buffers: the last batch whole, or cut), nothing sent after the drop.
    const slowSeqs = slow.events().map((e) => e.seq);
    expect(Math.max(0, ...slowSeqs)).toBeLessThanOrEqual(emittedBeforeDrop);
    expect(fast.events().map((e) => e.seq)).toEqual(
      Array.from({ length: emitted }, (_, i) => i + 1),
    );
  });

  it("validates options, naming the field", async () => {
    await expect(serveTelemetry({ pools: [] })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      field: "pools",
    });
    await expect(serveTelemetry({ pools: [fakePool("x")], port: -1 })).rejects.toMatchObject({
      field: "port",
    });
    await expect(serveTelemetry({ pools: [fakePool("x"), fakePool("x")] })).rejects.toMatchObject({
      field: "pools[1].name",
    });
  });
});
