/**
 * Issue 22, rows 3, 8 and 9: strangers on the runner port (real sockets on loopback, a real
 * RunnerServer or Pool). Row 3: a crowd that holds sockets open and reopens each one dropped
 * must not keep runners out (the oldest stranger goes, a deadline per socket, a cap per
 * source). Row 8: every refused upgrade gets the same status and body, so a stranger cannot
 * learn which runner ids exist. Row 9: refusals are summarised in the log, rate-limited, and
 * nothing a stranger sent is written there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { type BootedRunner, type BootRequest, LocalBackend, Pool } from "../../src/index.js";
import { type LinkLogLevel, RunnerServer } from "../../src/link/index.js";
import { RefusalLog } from "../../src/link/refusal-log.js";
import { decodeParentDescriptor, generateToken, newNonce } from "../../src/protocol.js";
import { fixtureEntry } from "../e2e/helpers.js";
import { echo } from "../fixtures/functions.mjs";
import { cleanups } from "./cleanups.js";
import {
  challengeRequest,
  FakeRunner,
  handshake,
  proofHeaders,
  RawConnection,
  upgradeRequest,
} from "./fake-runner.js";

const CROWD = fileURLToPath(new URL("./fixtures/stranger-crowd.mjs", import.meta.url));

type Logged = { level: LinkLogLevel; msg: string; fields?: Record<string, unknown> | undefined };

async function listen(options: Parameters<typeof RunnerServer.listen>[0] = {}) {
  const server = await RunnerServer.listen(options);
  cleanups.push(() => server.close());
  return server;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** An idle stranger: connects and sends nothing. Destroyed when the test ends. */
function idleSocket(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  socket.on("error", () => {});
  cleanups.push(() => socket.destroy());
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
}

/** Sends `request` on a fresh socket; resolves with every byte answered once the port closes it. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer));
    socket.write(request);
  });
}

/** Upgrade headers with a proof for a challenge this connection never got (a replay, say). */
function unchallenged(runnerId: string, token: string): Record<string, string> {
  return proofHeaders(token, { runnerId, runnerNonce: newNonce(), parentNonce: newNonce() });
}

/** Linux routes all of 127.0.0.0/8 to loopback: a second local source address for free. */
const secondLoopback = process.platform === "linux";

describe("row 3: strangers cannot starve runners", () => {
  it("when the handshake cap is full the oldest stranger goes, not the newcomer", async () => {
    const server = await listen({ maxHandshakes: 4 });
    const port = portOf(server.url);
    const first = await idleSocket(port);
    const held = [first];
    for (let i = 0; i < 3; i++) held.push(await idleSocket(port));
    await expect
      .poll(() => server.strangers === 4, { timeout: 10_000, message: "four strangers held" })
      .toBe(true);
    const newcomer = await idleSocket(port);
    // The port dropped exactly one socket to make room: the oldest.
    await closed(first);
    expect(server.strangers).toBe(4);
    expect(newcomer.destroyed).toBe(false);
  });

  it("a stranger that does not finish its upgrade in time is dropped (listen upgradeTimeout)", async () => {
    const server = await listen({ upgradeTimeoutMs: 200 });
    const port = portOf(server.url);
    const silent = await idleSocket(port);
    const slow = await idleSocket(port);
    slow.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webso");
    // Bounded by 25 times the deadline; the old behaviour kept them for the 10 s hello timeout.
    const outcome = await Promise.race([
      Promise.all([closed(silent), closed(slow)]).then(() => "dropped"),
      new Promise((resolve) => setTimeout(() => resolve("still open"), 5_000)),
    ]);
    expect(outcome).toBe("dropped");
    expect(server.strangers).toBe(0);
  });

  it.skipIf(!secondLoopback)(
    "one source address crowds out only its own sockets (listen maxHandshakesPerSource)",
    async () => {
      const server = await listen({ maxHandshakes: 8, maxHandshakesPerSource: 4 });
      const port = portOf(server.url);
      const crowd: Socket[] = [];
      for (let i = 0; i < 12; i++) crowd.push(await idleSocket(port, "127.0.0.1"));
      // 127.0.0.1 keeps its 4 newest; the 8 it opened before were its own to lose.
      await Promise.all(crowd.slice(0, 8).map(closed));
      await expect
        .poll(() => server.strangers === 4, {
          timeout: 10_000,
          message: "the crowd down to its share",
        })
        .toBe(true);
      const other: Socket[] = [];
      for (let i = 0; i < 4; i++) other.push(await idleSocket(port, "127.0.0.2"));
      await expect
        .poll(() => server.strangers === 8, {
          timeout: 10_000,
          message: "the other source's sockets held",
        })
        .toBe(true);
      // The crowd goes on: it still loses only its own sockets.
      for (let i = 0; i < 8; i++) crowd.push(await idleSocket(port, "127.0.0.1"));
      await Promise.all(crowd.slice(0, 16).map(closed));
      expect(other.every((s) => !s.destroyed)).toBe(true);
      expect(server.strangers).toBe(8);
    },
  );

  it("a socket that presented a valid token is never dropped as a stranger", async () => {
    const server = await listen({ maxHandshakes: 2, maxHandshakesPerSource: 2 });
    const token = generateToken();
    const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
    const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => runner.close());
    const crowd: Socket[] = [];
    for (let i = 0; i < 10; i++) crowd.push(await idleSocket(portOf(server.url)));
    await Promise.all(crowd.slice(0, 8).map(closed));
    runner.hello("r1");
    expect((await expecting).runnerId).toBe("r1");
  });

  it("an expected runner connects within its boot time while 200 strangers hammer the port", {
    timeout: 90_000,
  }, async () => {
    let crowdReady!: () => void;
    const crowdInPlace = new Promise<void>((resolve) => {
      crowdReady = resolve;
    });
    const requests: BootRequest[] = [];
    const local = new LocalBackend({ entry: fixtureEntry });
    // Holds the boot (the pool is already listening) until the crowd has the port.
    const backend = {
      name: "crowded",
      async boot(req: BootRequest): Promise<BootedRunner> {
        requests.push(req);
        await crowdInPlace;
        return local.boot(req);
      },
    };
    const pool = new Pool({
      name: "crowded",
      max: 1,
      backend,
      // The product's own deadline (the default), and a call timeout that outlasts it.
      bootTimeout: 30_000,
      timeout: 60_000,
      shutdownTimeout: 5_000,
    });
    cleanups.push(() => pool.stop());
    const call = pool.call(echo, "served");
    call.catch(() => {});
    await expect
      .poll(() => requests.length === 1, { timeout: 10_000, message: "the boot to start" })
      .toBe(true);
    const { url } = decodeParentDescriptor(requests[0]?.env.FLAME_PARENT ?? "");

    const crowd = startCrowd(portOf(url), 200);
    cleanups.push(() => crowd.stop());
    // The crowd filled the port and is reopening what it loses: the attack is on.
    await crowd.dropped(400);
    crowdReady();
    expect(await call).toBe("served");
    expect(crowd.child.exitCode).toBe(null);
  });
});

interface Crowd {
  readonly child: ChildProcess;
  /** Resolves once the crowd has seen `n` of its sockets dropped. */
  dropped(n: number): Promise<void>;
  stop(): Promise<void>;
}

function startCrowd(port: number, sockets: number): Crowd {
  const child = spawn(process.execPath, [CROWD, String(port), String(sockets)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let drops = 0;
  const waiters: Array<() => void> = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on("line", (line) => {
    const m = /^dropped (\d+)$/.exec(line);
    if (m !== null) drops = Number(m[1]);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    async dropped(n) {
      const deadline = Date.now() + 20_000;
      while (drops < n) {
        if (child.exitCode !== null) throw new Error("the crowd exited");
        if (Date.now() > deadline) throw new Error(`the crowd saw only ${drops} drops`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    async stop() {
      // Closing its stdin ends it (it destroys its sockets); the kill is the backstop.
      child.stdin?.end();
      const gone = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5_000)),
      ]);
      if (!gone) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

describe("row 8: refusals say nothing", () => {
  it("answers every refused upgrade with the same status and body, whatever was wrong", async () => {
    const server = await listen();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const port = portOf(server.url);
    const attempts: Record<string, () => Promise<string>> = {
      "booting id, wrong token": async () =>
        (await handshake(server.url, { runnerId: "r1", token: generateToken() })).raw,
      "unknown id, a token": async () =>
        (await handshake(server.url, { runnerId: "r2", token: generateToken() })).raw,
      "unknown id, a booting runner's token": async () =>
        (await handshake(server.url, { runnerId: "r2", token })).raw,
      "no credentials": () => exchange(port, upgradeRequest({})),
      "right token, no challenge on this connection": () =>
        exchange(port, upgradeRequest(unchallenged("r1", token))),
      "malformed proof": async () =>
        (
          await handshake(
            server.url,
            { runnerId: "r1", token },
            { headers: { "x-flame-proof": "not/a proof" } },
          )
        ).raw,
      "browser origin, right token": async () =>
        (
          await handshake(
            server.url,
            { runnerId: "r1", token },
            { headers: { origin: "https://evil.example" } },
          )
        ).raw,
      "not a GET, right token": async () =>
        (await handshake(server.url, { runnerId: "r1", token }, { method: "POST" })).raw,
    };
    const answers: Record<string, string> = {};
    for (const [what, attempt] of Object.entries(attempts)) answers[what] = await attempt();
    const first = answers["booting id, wrong token"] ?? "";
    expect(first).toMatch(/^HTTP\/1\.1 401 /);
    for (const answer of Object.values(answers)) expect(answer).toBe(first);
    expect(first).not.toMatch(/r1|r2|token|expected|origin|proof|challenge/i);
  });

  it("answers the challenge alike for a booting runner id and an unknown one", async () => {
    const server = await listen();
    void server.expect("r1", generateToken(), AbortSignal.timeout(10_000)).catch(() => {});
    const shapes: string[] = [];
    for (const runnerId of ["r1", "r2"]) {
      const conn = await RawConnection.open(server.url);
      cleanups.push(() => conn.close());
      const answer = await conn.exchange(challengeRequest(runnerId));
      expect(answer.status).toBe(200);
      // Names and lengths of every header but the date: nothing tells the two apart.
      shapes.push(
        Object.entries(answer.headers)
          .filter(([name]) => name !== "date")
          .map(([name, value]) => `${name}:${value.length}`)
          .join(","),
      );
    }
    expect(shapes[0]).toContain("x-flame-proof:43");
    expect(shapes[1]).toBe(shapes[0]);
  });
});

describe("row 9: refused upgrades are summarised in the log", () => {
  it("600 refusals make at most two lines, count them all, and never echo a stranger's header", async () => {
    const logs: Logged[] = [];
    const server = await listen({ log: (level, msg, fields) => logs.push({ level, msg, fields }) });
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(30_000)).catch(() => {});
    const port = portOf(server.url);
    const marker = "stranger-chose-this";
    const requests = [
      (i: number) => upgradeRequest(unchallenged(`${marker}-${i}`, generateToken())),
      (i: number) => upgradeRequest({ ...unchallenged("r1", token), origin: `${marker}-${i}` }),
      () => upgradeRequest({ ...unchallenged("r1", token), "x-flame-proof": marker }),
      (i: number) =>
        upgradeRequest({ "x-flame-runner": "r1", authorization: `Bearer ${marker}${i}` }),
    ];
    // 600 refusals, 10 at a time (within the per-source share, so none is dropped unanswered).
    for (let batch = 0; batch < 60; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => {
          const i = batch * 10 + j;
          return exchange(port, requests[i % requests.length]?.(i) ?? "");
        }),
      );
    }
    const during = logs.length;
    await server.close();
    expect(during).toBeLessThanOrEqual(1);
    expect(logs.length).toBeLessThanOrEqual(2);
    const counted = logs.reduce(
      (sum, l) => sum + (typeof l.fields?.refused === "number" ? l.fields.refused : 1),
      0,
    );
    expect(counted).toBe(600);
    expect(JSON.stringify(logs)).not.toContain(marker);
    expect(logs.every((l) => l.fields?.code === "UNAUTHORIZED")).toBe(true);
  });
});

describe("RefusalLog", () => {
  it("logs the first refusal at once, then one summary per window, until a window stays quiet", () => {
    vi.useFakeTimers();
    const logs: Logged[] = [];
    const log = new RefusalLog((level, msg, fields) => logs.push({ level, msg, fields }), 1_000);
    log.record("wrong proof", "10.0.0.1");
    expect(logs).toHaveLength(1);
    for (let i = 0; i < 5; i++) log.record("unexpected runner", i < 3 ? "10.0.0.2" : "10.0.0.3");
    expect(logs).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    expect(logs).toHaveLength(2);
    expect(logs[1]?.fields).toMatchObject({
      refused: 5,
      reasons: { "unexpected runner": 5 },
      sources: 2,
      busiestSource: "10.0.0.2",
      fromBusiest: 3,
    });
    vi.advanceTimersByTime(1_000);
    expect(logs).toHaveLength(2);
    log.record("browser origin", "10.0.0.1");
    expect(logs).toHaveLength(3);
    expect(logs[2]?.fields).toMatchObject({ reason: "browser origin" });
    log.close();
    expect(logs).toHaveLength(3);
  });
});
