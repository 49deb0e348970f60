import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { SendBatcher } from "../../src/protocol.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A connected ws pair on 127.0.0.1; `writes` counts the sender socket's syscalls. */
async function pair() {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const accepted = once(server, "connection") as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  cleanups.push(() => client.terminate());
  await once(client, "open");
  const [peer] = await accepted;
  const received: number[] = [];
  peer.on("message", (data: Buffer) => received.push(data.readUInt32BE(0)));
  const socket = (client as unknown as { _socket: Socket & Record<string, unknown> })._socket;
  const writes = { count: 0 };
  for (const method of ["_writev", "_write"] as const) {
    const original = socket[method] as (...args: unknown[]) => unknown;
    socket[method] = (...args: unknown[]) => {
      writes.count += 1;
      return original.apply(socket, args);
    };
  }
  return { client, received, writes };
}

function frame(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("SendBatcher", () => {
  it("sends frames of one tick in bounded batches, in order", async () => {
    const { client, received, writes } = await pair();
    const batcher = new SendBatcher(client, { maxFramesPerWrite: 8 });
    for (let n = 0; n < 20; n++) batcher.send(frame(n));
    await until(() => received.length === 20);
    expect(received).toEqual(Array.from({ length: 20 }, (_, n) => n));
    // 8 + 8 + 4: three syscalls instead of twenty, and the first batch left mid-tick.
    expect(writes.count).toBe(3);
  });

  it("flushes a lone frame at the end of its tick and a large one at once", async () => {
    const { client, received, writes } = await pair();
    const batcher = new SendBatcher(client, { maxFramesPerWrite: 8, maxBytesPerWrite: 1024 });
    batcher.send(frame(1));
    await until(() => received.length === 1);
    expect(writes.count).toBe(1);
    const big = new Uint8Array(4096);
    big.set(frame(2));
    batcher.send(big);
    // Over maxBytesPerWrite: written before the tick ends, not held for more frames.
    expect(writes.count).toBe(2);
    batcher.send(frame(3));
    await until(() => received.length === 3);
    expect(received).toEqual([1, 2, 3]);
  });

  it("drops frames once the socket is closed instead of throwing", async () => {
    const { client } = await pair();
    const batcher = new SendBatcher(client);
    client.close();
    expect(() => batcher.send(frame(1))).not.toThrow();
  });
});
