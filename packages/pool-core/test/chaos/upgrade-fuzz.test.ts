/**
 * Issue 12, "Chaos soak": fuzz the upgrade and hello path. Seeded strangers knock on the
 * pool's runner port with malformed and oversized input — raw garbage, broken or oversized
 * HTTP upgrade requests, browser-like requests with an Origin, real WebSockets that send
 * random binary frames (small, or up to 4 MiB) — while a caller keeps using the pool.
 * Only two outcomes are allowed: the stranger's socket is closed by the pool, and the pool's
 * own runner keeps serving (every call answers, the same runner throughout).
 *
 * Two probes hold the upgrade path to the hardening of issue 12 ("Runner link"); both failed
 * before it (main 503e886):
 * - slowHandshake: the start of an HTTP request, then silence (slowloris). It stayed open
 *   until Node's default http timeout answered 408 (~90 s measured); now the handshake is
 *   capped at the hello timeout (10 s), since issue 22 at `listen.upgradeTimeout` (3 s).
 * - bigFrames: unauthenticated WebSockets sending 1–5 random frames of up to 4 MiB. They
 *   reached the codec before any token check; the parent stalled past the 1.5 s heartbeat
 *   and its runner was replaced (the first finding).
 */
import { connect, type Socket } from "node:net";
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import { expect, it } from "vitest";
import { WebSocket } from "ws";
import { Prng } from "../sim/prng.js";
import { freePort } from "./fault-proxy.js";
import { echo } from "./fixtures/chaos-functions.mjs";
import { seedFromEnv, sleep } from "./soak.js";

const seed = seedFromEnv(process.env, 1);
const PROBES = 60;
/**
 * Bound on the pool closing one stranger: at most its hello timeout (10 s default; a stalled
 * handshake is capped sooner, at `listen.upgradeTimeout`) plus 10 s of slack for timer
 * lateness on a loaded CI machine.
 */
const CLOSE_BOUND_MS = 20_000;

type Probe = (port: number, rng: Prng) => Promise<string>;

const probes: Record<string, Probe> = {
  rawGarbage: (port, rng) => raw(port, randomBytes(rng, rng.int(1, 8_192))),
  brokenUpgrade: (port, rng) =>
    raw(
      port,
      Buffer.from(
        `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Version: ${rng.pick(["13", "8", "", "999"])}\r\n` +
          `Sec-WebSocket-Key: ${rng.pick(["", "short", "!!!!", randomBytes(rng, 16).toString("base64")])}\r\n\r\n`,
      ),
    ),
  oversizedHeader: (port, rng) =>
    raw(
      port,
      Buffer.from(
        `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(rng.int(20_000, 200_000))}\r\n\r\n`,
      ),
    ),
  browserOrigin: (port, rng) => websocket(port, rng, { Origin: "https://evil.example" }, 1_024),
  randomFrames: (port, rng) => websocket(port, rng, {}, 65_536),
  slowHandshake: (port, rng) =>
    raw(port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: web".slice(0, rng.int(3, 38)))),
  bigFrames: (port, rng) => websocket(port, rng, {}, 4 * 1024 * 1024),
};

it(`strangers on the runner port are closed and the pool keeps serving (SEED=${seed})`, async () => {
  await fuzz(probes);
}, 60_000);

async function fuzz(catalogue: Record<string, Probe>): Promise<void> {
  const rng = new Prng(seed);
  const port = await freePort();
  const pool = new Pool({
    name: "fuzz",
    min: 1,
    max: 1,
    backend: new LocalBackend({
      entry: new URL("./fixtures/chaos-functions.mjs", import.meta.url),
      inheritLoaders: false,
    }),
    listen: { port },
    shutdownTimeout: 2_000,
    // The soak's tight heartbeat: a parent stalled by strangers' input past 1.5 s loses its
    // runner, which the verdict then sees (a new runner id, a failed call).
    heartbeat: { intervalMs: 200, timeoutMs: 1_500 },
  });
  // Why a runner went, if one did: the verdict below names it (a lost heartbeat, a protocol
  // violation, an exit), so a failure says which side gave up.
  const runnersLost: string[] = [];
  const unsubscribe = pool.events.subscribe((e) => {
    if (e.type === "runnerDown") runnersLost.push(`${e.runnerId}: ${e.reason}`);
  });
  try {
    await pool.start();
    const runnerBefore = pool.snapshot().runners[0]?.id;
    const kinds = Object.keys(catalogue);
    let callsOk = 0;
    let stop = false;
    const caller = (async () => {
      for (let nonce = 1; !stop; nonce++) {
        const out = await pool.call(echo, { nonce, delayMs: 0 }, { timeout: 10_000 });
        expect(out.nonce).toBe(nonce);
        callsOk += 1;
        await sleep(10);
      }
    })();
    // Every probe at once (a burst of strangers), each kind drawn by the seed.
    const outcomes = await Promise.all(
      Array.from({ length: PROBES }, () => {
        const kind = rng.pick(kinds);
        return catalogue[kind]!(port, rng).then((how) => `${kind}: ${how}`);
      }),
    );
    stop = true;
    await caller;
    const notClosed = outcomes.filter((o) => o.endsWith("still open"));
    expect(notClosed, `SEED=${seed}`).toEqual([]);
    const letIn = outcomes.filter((o) => o.endsWith("upgrade was accepted"));
    expect(letIn, `SEED=${seed}: strangers without a token got a WebSocket`).toEqual([]);
    expect(callsOk).toBeGreaterThan(0);
    // The runner was never disturbed: the same one served throughout.
    const runnersNow = pool.snapshot().runners.map((r) => r.id);
    expect(runnersNow, `SEED=${seed}; runners lost: ${runnersLost.join("; ")}`).toEqual([
      runnerBefore,
    ]);
  } finally {
    unsubscribe();
    await pool.stop();
  }
}

/** Writes `bytes` on a raw TCP socket; resolves with how it ended ("closed…" or "still open"). */
function raw(port: number, bytes: Buffer): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  socket.write(bytes);
  return closedWithin(socket);
}

function closedWithin(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("still open");
    }, CLOSE_BOUND_MS);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
    socket.resume(); // read (and drop) whatever the pool answers, e.g. "400 Bad Request"
  });
}

/**
 * A real WebSocket that would send 1–5 random frames of ≤ maxBytes once open. Only the sizes and
 * a seed are drawn here; the bytes are made at `open`. Made up front, the bigFrames probes' ~30
 * MiB of JS-generated bytes blocked this process (the parent) for 0.3 s quiet and ~2 s at load
 * 14: past the 1.5 s heartbeat, so the runner left because of the test's own set-up (failed so
 * in a whole-suite run under load). No stranger presents a token, so `open` means the pool let
 * one in: the probe says so and the verdict fails.
 */
function websocket(
  port: number,
  rng: Prng,
  headers: Record<string, string>,
  maxBytes: number,
): Promise<string> {
  const sizes = Array.from({ length: rng.int(1, 5) }, () => rng.int(1, maxBytes));
  const framesSeed = rng.int(1, 2 ** 31 - 1);
  let opened = false;
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { headers });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve("still open");
    }, CLOSE_BOUND_MS);
    ws.on("error", () => {});
    ws.on("open", () => {
      opened = true;
      const frameRng = new Prng(framesSeed);
      for (const size of sizes) ws.send(randomBytes(frameRng, size));
    });
    ws.on("close", () => {
      clearTimeout(timer);
      resolve(opened ? "closed, but its upgrade was accepted" : "closed");
    });
  });
}

function randomBytes(rng: Prng, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) bytes.writeUInt32LE(Math.floor(rng.next() * 2 ** 32), i);
  for (let i = length - (length % 4); i < length; i++) bytes[i] = rng.int(0, 255);
  return bytes;
}
