/**
 * What an unauthenticated flood costs the parent (issue 12): N raw TCP clients each send a
 * WebSocket upgrade with no credentials followed at once by one 20 MB binary frame whose
 * payload is a v8-encoded "hello" (what the parent of protocol 2 decoded before checking the
 * token). Measured in the parent: heap (and external memory) growth at its peak and the
 * event-loop delay, while a ticker stands in for the runners' heartbeats.
 *
 *   npm run bench:flood -w @flame-ts/bench                   # this tree's RunnerServer
 *   npm run bench:flood -w @flame-ts/bench -- --impl <path>  # another tree's link/index.ts
 *
 * `--impl` lets the same run measure a baseline: e.g. `git worktree add /tmp/old 503e886`
 * and pass /tmp/old/packages/pool-core/src/link/index.ts (link node_modules in /tmp/old).
 * Prints `[measure]` lines; asserts nothing.
 */
import { fork } from "node:child_process";
import { connect } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { serialize } from "node:v8";

const FRAME_MB = 20;
const CLIENTS = Number(process.env.FLOOD_CLIENTS ?? 3);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

/** One masked (key 0) binary WebSocket frame around a flame-ts hello of ~FRAME_MB MB. */
function floodFrame(protocolVersion: number): Buffer {
  const functions: string[] = [];
  let bytes = 0;
  while (bytes < FRAME_MB * 1024 * 1024) {
    const name = `fn-${functions.length.toString(36).padStart(6, "0")}`;
    functions.push(name);
    bytes += name.length + 2;
  }
  const hello = serialize({
    t: "hello",
    runnerId: "stranger",
    token: "guess",
    protocol: protocolVersion,
    functions,
    agentVersion: "0",
    pid: 1,
    host: "x",
  });
  const payload = Buffer.concat([
    Buffer.from([0xf1, protocolVersion, 1, 0, 0xff, 0xff, 0xff, 0xff]),
    hello,
  ]);
  const head = Buffer.alloc(14);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(payload.byteLength), 2);
  // bytes 10..13: mask key 0, so the payload goes as is
  return Buffer.concat([head, payload]);
}

async function clientMain(url: string, protocolVersion: number): Promise<void> {
  const { hostname, port } = new URL(url);
  const frame = floodFrame(protocolVersion);
  const key = Buffer.from("0123456789abcdef").toString("base64");
  const upgrade = `GET / HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  await Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(Number(port), hostname);
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.on("data", () => {});
          socket.write(upgrade);
          socket.end(frame);
          socket.setTimeout(30_000, () => socket.destroy());
        }),
    ),
  );
  process.send?.("done");
}

async function parentMain(): Promise<void> {
  const impl =
    arg("--impl") ??
    fileURLToPath(new URL("../packages/pool-core/src/link/index.ts", import.meta.url));
  const label = arg("--label") ?? (arg("--impl") === undefined ? "after" : "baseline");
  const { RunnerServer } = (await import(pathToFileURL(impl).href)) as {
    RunnerServer: {
      listen(o: object): Promise<{ url: string; close(): Promise<void> }>;
    };
  };
  const protocolVersion = Number(arg("--protocol") ?? 3);
  const server = await RunnerServer.listen({
    host: "127.0.0.1",
    port: 0,
    maxFrameBytes: 64 * 1024 * 1024,
  });
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  let peakExternal = base.external + base.arrayBuffers;
  let peakRss = base.rss;
  // A 100 ms ticker stands in for heartbeats: its worst lateness is what a runner would see.
  let lastTick = performance.now();
  let worstTickGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstTickGapMs = Math.max(worstTickGapMs, now - lastTick);
    lastTick = now;
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss);
  }, 100);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = performance.now();
  const child = fork(
    fileURLToPath(import.meta.url),
    ["--client", server.url, String(protocolVersion)],
    {
      execArgv: ["--import", "tsx"],
    },
  );
  await new Promise<void>((resolve) => child.on("message", () => resolve()));
  // Give the parent a moment to finish whatever the frames started.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  delay.disable();
  clearInterval(ticker);
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  console.log(
    `[measure] flood ${label}: ${CLIENTS} unauthenticated clients × ${FRAME_MB} MB frame`,
  );
  console.log(
    `[measure] flood ${label}: peak heap growth ${mb(peakHeap - base.heapUsed)} MB, peak external+arrayBuffers growth ${mb(peakExternal - base.external - base.arrayBuffers)} MB, peak rss growth ${mb(peakRss - base.rss)} MB`,
  );
  console.log(
    `[measure] flood ${label}: event-loop delay max ${(delay.max / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms; worst 100 ms-ticker gap ${worstTickGapMs.toFixed(0)} ms; flood handled in ${(performance.now() - started - 1_000).toFixed(0)} ms`,
  );
  child.kill();
  await server.close();
}

if (process.argv[2] === "--client") {
  await clientMain(process.argv[3] ?? "", Number(process.argv[4] ?? 3));
} else {
  await parentMain();
}
