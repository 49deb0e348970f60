/**
 * The soak's fault proxy does what it claims, so a clean soak means the pool held, not that
 * the faults never happened: bytes pass both ways; a delay holds them (never delivers early)
 * and keeps their order; a blackhole drops them silently; a reset closes both ends.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, expect, it } from "vitest";
import { FaultProxy } from "./fault-proxy.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** An upstream that echoes bytes back and records everything it received per socket. */
async function echoServer(): Promise<{ port: number; received: string[]; closed: Promise<void> }> {
  const received: string[] = [];
  let onClose: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  const server: Server = createServer((socket) => {
    const index = received.push("") - 1;
    socket.on("data", (chunk) => {
      received[index] += chunk.toString();
      socket.write(chunk);
    });
    socket.on("error", () => {});
    socket.on("close", () => onClose());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, received, closed };
}

async function through(proxy: FaultProxy): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port: proxy.port });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  cleanup.push(() => void socket.destroy());
  return socket;
}

function readUntil(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.includes(text)) {
        socket.off("data", onData);
        resolve(got);
      }
    };
    socket.on("data", onData);
  });
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start(port);
  cleanup.push(() => proxy.close());
  return proxy;
}

it("forwards bytes both ways", async () => {
  const upstream = await echoServer();
  const proxy = await proxyTo(upstream.port);
  const client = await through(proxy);
  client.write("hello");
  expect(await readUntil(client, "hello")).toBe("hello");
  expect(proxy.links()).toHaveLength(1);
});

it("delay holds bytes at least that long and keeps their order", async () => {
  const upstream = await echoServer();
  const proxy = await proxyTo(upstream.port);
  const client = await through(proxy);
  client.write("warm");
  await readUntil(client, "warm");
  const heldFrom = performance.now();
  proxy.links()[0]!.delay(300);
  const echoed = readUntil(client, "3");
  client.write("1");
  client.write("2");
  client.write("3");
  expect(await echoed).toBe("123");
  // Timers never fire early: a lower bound only, no upper bound.
  expect(performance.now() - heldFrom).toBeGreaterThanOrEqual(299);
});

it("blackhole drops every byte silently and keeps the sockets open", async () => {
  const upstream = await echoServer();
  const proxy = await proxyTo(upstream.port);
  const client = await through(proxy);
  client.write("before");
  await readUntil(client, "before");
  proxy.links()[0]!.blackhole();
  client.write("dropped");
  // The link stays open until an end closes it; then upstream has seen only "before".
  expect(proxy.links()).toHaveLength(1);
  client.end();
  await upstream.closed;
  expect(upstream.received).toEqual(["before"]);
});

it("reset closes both ends", async () => {
  const upstream = await echoServer();
  const proxy = await proxyTo(upstream.port);
  const client = await through(proxy);
  client.write("x");
  await readUntil(client, "x");
  const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  proxy.links()[0]!.reset();
  await Promise.all([clientClosed, upstream.closed]);
  expect(proxy.links()).toHaveLength(0);
});
