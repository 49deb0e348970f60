/**
 * The runner port against strangers: nothing an unauthenticated peer sends reaches the codec,
 * browsers are refused, and sockets in handshake are capped (issue 12, "Runner link").
 */
import { connect } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { RunnerServer } from "../../src/link/index.js";
import {
  type Codec,
  generateToken,
  newNonce,
  parentProof,
  proofEquals,
  v8Codec,
} from "../../src/protocol.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";
import { cleanups } from "./cleanups.js";
import {
  challengeRequest,
  FakeRunner,
  handshake,
  isT,
  noncesOf,
  proofHeaders,
  RawConnection,
  upgradeRequest,
} from "./fake-runner.js";
import { call } from "./requests.js";
import { hasOpenssl, selfSignedCert } from "./tls-cert.js";

/** v8 codec that counts what it is asked to decode. */
function countingCodec(): Codec & { decodes: number } {
  const codec = {
    ...v8Codec,
    decodes: 0,
    decode(bytes: Uint8Array) {
      codec.decodes += 1;
      return v8Codec.decode(bytes);
    },
  };
  return codec;
}

async function listen(options: Parameters<typeof RunnerServer.listen>[0] = {}) {
  const server = await RunnerServer.listen(options);
  cleanups.push(() => server.close());
  return server;
}

/** A raw TCP client; resolves once the peer closed, with everything it answered. */
function rawExchange(url: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer));
    socket.write(bytes);
  });
}

describe("runner port: authentication at the upgrade", () => {
  it("refuses a browser (any Origin header) with the one refusal, even with the right token", async () => {
    const server = await listen();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const upgrade = await handshake(
      server.url,
      { runnerId: "r1", token },
      { headers: { origin: "https://evil.example" } },
    );
    expect(upgrade.status).toBe(401);
    const conn = await RawConnection.open(server.url);
    cleanups.push(() => conn.close());
    const challenge = await conn.exchange(
      challengeRequest("r1", newNonce(), { origin: "https://evil.example" }),
    );
    expect(challenge.status).toBe(401);
  });

  it("refuses missing credentials, a wrong token and an unexpected runner with 401", async () => {
    const server = await listen();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const conn = await RawConnection.open(server.url);
    cleanups.push(() => conn.close());
    expect((await conn.exchange(upgradeRequest({}))).status).toBe(401);
    const wrong = await handshake(server.url, { runnerId: "r1", token: generateToken() });
    expect(wrong.status).toBe(401);
    expect((await handshake(server.url, { runnerId: "r2", token })).status).toBe(401);
    expect((await handshake(server.url, { runnerId: "r1", token })).status).toBe(101);
  });

  it("answers another protocol version with 426 naming only its own, alike for a stranger and a token holder", async () => {
    const server = await listen();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const answers = [];
    for (const runnerId of ["r1", "nobody"]) {
      const conn = await RawConnection.open(server.url);
      cleanups.push(() => conn.close());
      answers.push(
        await conn.exchange(challengeRequest(runnerId, newNonce(), { "x-flame-protocol": "4" })),
      );
    }
    // A protocol-4 runner (bearer token in its upgrade, no challenge) gets the same.
    const old = await RawConnection.open(server.url);
    cleanups.push(() => old.close());
    answers.push(
      await old.exchange(
        upgradeRequest({
          "x-flame-runner": "r1",
          authorization: `Bearer ${token}`,
          "x-flame-protocol": "4",
        }),
      ),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(426);
      expect(answer.headers["x-flame-protocol"]).toBe(String(PROTOCOL_VERSION));
      expect(answer.raw.slice(answer.raw.indexOf("\r\n\r\n"))).toBe(
        `\r\n\r\nflame-ts runner port: protocol ${PROTOCOL_VERSION} only\n`,
      );
    }
  });

  it("never decodes a byte from an unauthenticated peer: a 20 MB frame is refused at the upgrade", async () => {
    const codec = countingCodec();
    const server = await listen({ codec });
    const huge = Buffer.alloc(20 * 1024 * 1024, 1);
    huge[0] = 0xf1;
    // A ws client without credentials never gets past the upgrade, so it can't send its frame.
    const bare = await RawConnection.open(server.url);
    cleanups.push(() => bare.close());
    expect((await bare.exchange(upgradeRequest({}))).status).toBe(401);
    // A raw client that sends the upgrade and the frame bytes in one write gets 401 too.
    const key = Buffer.from("0123456789abcdef").toString("base64");
    const answer = await rawExchange(
      server.url,
      Buffer.concat([
        Buffer.from(
          `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
        huge,
      ]),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(codec.decodes).toBe(0);
  });

  it("refuses a challenge that comes with a body, and closes its connection", async () => {
    const server = await listen();
    void server.expect("r1", generateToken(), AbortSignal.timeout(10_000)).catch(() => {});
    const request = challengeRequest("r1", newNonce(), { "content-length": "1000000" });
    const answer = await rawExchange(
      server.url,
      Buffer.concat([Buffer.from(request), Buffer.alloc(4096)]),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it("answers a plain HTTP request with 426 and nothing else", async () => {
    const server = await listen();
    const answer = await rawExchange(server.url, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 426 /);
  });

  it("caps sockets in handshake: past maxHandshakes the oldest are dropped, runners still get in", async () => {
    const server = await listen({ maxHandshakes: 4 });
    const { hostname, port } = new URL(server.url);
    const sockets: Array<ReturnType<typeof connect>> = [];
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    const idle = Array.from({ length: 10 }, () => {
      const socket = connect(Number(port), hostname);
      socket.on("error", () => {});
      sockets.push(socket);
      return new Promise<boolean>((resolve) => {
        socket.once("close", () => resolve(false));
        socket.once("connect", () => setImmediate(() => resolve(!socket.destroyed)));
      });
    });
    await Promise.all(idle);
    // Wait until the server has seen all ten: four held, six dropped.
    const deadline = Date.now() + 10_000;
    while (server.strangers < 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(server.strangers).toBe(4);
    for (const socket of sockets) socket.destroy();
    const token = generateToken();
    const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
    while (server.strangers > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => runner.close());
    runner.hello("r1");
    expect((await expecting).runnerId).toBe("r1");
  });

  it("proves it holds the token in its answer to the challenge (HMAC of both nonces)", async () => {
    const server = await listen();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const conn = await RawConnection.open(server.url);
    cleanups.push(() => conn.close());
    const nonce = newNonce();
    const answer = await conn.exchange(challengeRequest("r1", nonce));
    expect(answer.status).toBe(200);
    const nonces = noncesOf(answer, "r1", nonce);
    expect(nonces.parentNonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(proofEquals(parentProof(token, nonces), answer.headers["x-flame-proof"])).toBe(true);
    expect(proofEquals(parentProof(generateToken(), nonces), answer.headers["x-flame-proof"])).toBe(
      false,
    );
    // The runner's proof on the same connection opens it.
    expect((await conn.exchange(upgradeRequest(proofHeaders(token, nonces)))).status).toBe(101);
  });

  it("a runner reaches a parent on an IPv6 address (the URL's brackets are not part of the host)", async () => {
    const server = await listen({ host: "::1" });
    expect(server.url).toMatch(/^ws:\/\/\[::1\]:\d+$/);
    const token = generateToken();
    const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
    const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => runner.close());
    runner.hello("r1");
    expect((await expecting).runnerId).toBe("r1");
  });

  it("a second authenticated socket for the same runner replaces the first", async () => {
    const server = await listen();
    const token = generateToken();
    const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
    const first = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    const second = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(
      () => first.close(),
      () => second.close(),
    );
    await first.closed;
    second.hello("r1");
    expect((await expecting).runnerId).toBe("r1");
  });
});

describe("runner port over TLS", () => {
  it.skipIf(!hasOpenssl)(
    "an authenticated wss link outlives the handshake bound (only strangers are timed out)",
    async () => {
      const tls = selfSignedCert();
      // The bounds run on fake time, so a slow machine's handshake cannot outlast them before
      // the hello (as a `loading` frame once did in CI); only the test moves time, after it.
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const server = await listen({ tls, helloTimeoutMs: 300, upgradeTimeoutMs: 300 });
      const token = generateToken();
      const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
      const runner = await FakeRunner.connect(
        server.url,
        { runnerId: "r1", token },
        { tlsCertSha256: server.tlsCertSha256 ?? "" },
      );
      cleanups.push(() => runner.close());
      runner.hello("r1");
      const conn = await expecting;
      expect(server.strangers).toBe(0);
      // Three handshake bounds later the link still carries a call.
      vi.advanceTimersByTime(900);
      const answered = call(conn, "echo", "still here", { timeoutMs: null });
      const sent = await runner.next(isT("call"));
      runner.send({ t: "result", id: sent.id, ok: true, value: "still here" });
      expect(await answered).toBe("still here");
    },
  );
});

describe("runner port: only what the token allows", () => {
  it("a ws client without headers cannot even open (no frame can be sent)", async () => {
    const server = await listen();
    const ws = new WebSocket(server.url);
    ws.on("error", () => {});
    const opened = await new Promise<boolean>((resolve) => {
      ws.once("open", () => resolve(true));
      ws.once("unexpected-response", () => resolve(false));
      ws.once("close", () => resolve(false));
    });
    ws.terminate();
    expect(opened).toBe(false);
  });
});
