import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { readFrameHeader } from "../../src/protocol/frame.js";
import { encodeFrame, SendBatcher, v8Codec } from "../../src/protocol.js";

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
  const messages: Buffer[] = [];
  peer.on("message", (data: Buffer) => {
    received.push(data.readUInt32BE(0));
    messages.push(data);
  });
  const socket = (client as unknown as { _socket: Socket & Record<string, unknown> })._socket;
  const writes = { count: 0 };
  for (const method of ["_writev", "_write"] as const) {
    const original = socket[method] as (...args: unknown[]) => unknown;
    socket[method] = (...args: unknown[]) => {
      writes.count += 1;
      return original.apply(socket, args);
    };
  }
  return { client, received, messages, writes };
}

function frame(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

describe("SendBatcher", () => {
  it("sends the first frame of a tick at once and batches the rest, in order", async () => {
    const { client, received, writes } = await pair();
    const batcher = new SendBatcher(client, { maxFramesPerWrite: 8 });
    for (let n = 0; n < 20; n++) batcher.send(frame(n));
    await expect.poll(() => received.length === 20, { timeout: 5_000 }).toBe(true);
    expect(received).toEqual(Array.from({ length: 20 }, (_, n) => n));
    // 1 + 8 + 8 + 3: four syscalls instead of twenty, the first two before the tick ended.
    expect(writes.count).toBe(4);
  });

  it("does not hold a lone frame or a large batch until the tick ends", async () => {
    const { client, received, writes } = await pair();
    const batcher = new SendBatcher(client, { maxFramesPerWrite: 8, maxBytesPerWrite: 1024 });
    batcher.send(frame(1));
    expect(writes.count).toBe(1); // written synchronously: a lone call pays no batching delay
    batcher.send(frame(2));
    expect(writes.count).toBe(1); // the next frames of this tick are batched...
    const big = new Uint8Array(4096);
    big.set(frame(3));
    batcher.send(big);
    expect(writes.count).toBe(2); // ...until they pass maxBytesPerWrite
    batcher.send(frame(4));
    await expect.poll(() => received.length === 4, { timeout: 5_000 }).toBe(true);
    expect(received).toEqual([1, 2, 3, 4]);
    expect(writes.count).toBe(3);
  });

  it("drops frames once the socket is closed instead of throwing", async () => {
    const { client } = await pair();
    const batcher = new SendBatcher(client);
    client.close();
    expect(() => batcher.send(frame(1))).not.toThrow();
  });

  it("sends an answer over answerPartBytes as answer.part messages, in order; other frames whole", async () => {
    const { client, messages } = await pair();
    const batcher = new SendBatcher(client, { answerPartBytes: 1024 });
    const value = Uint8Array.from({ length: 2500 }, (_, i) => i % 251);
    const answer = encodeFrame({ t: "result", id: 7, ok: true, value }, v8Codec, 1 << 20);
    const other = encodeFrame({ t: "shutdown", reason: "x".repeat(2000) }, v8Codec, 1 << 20);
    batcher.send(answer);
    batcher.send(other);
    await expect.poll(() => messages.length, { timeout: 5_000 }).toBe(4);
    const parts = messages.slice(0, 3);
    expect(parts.map((m) => readFrameHeader(m))).toEqual(
      parts.map(() => ({ ok: true, t: "answer.part", id: 7 })),
    );
    expect(parts.map((m) => [m.readUInt32BE(8), m.readUInt32BE(12)])).toEqual([
      [answer.byteLength, 0],
      [answer.byteLength, 1024],
      [answer.byteLength, 2048],
    ]);
    expect(Buffer.concat(parts.map((m) => m.subarray(16)))).toEqual(answer);
    expect(messages[3]).toEqual(other);
  });
});
