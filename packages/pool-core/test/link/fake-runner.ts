/**
 * A hand-driven runner for parent-side tests: a raw ws client that sends exactly the frames a
 * test asks for and records every frame the parent sends.
 */
import { connect, type Socket } from "node:net";
import { WebSocket } from "ws";
import {
  type AnyMessage,
  type ChallengeNonces,
  challengeParent,
  decodeFrame,
  encodeFrame,
  HEADER_CHALLENGE,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  runnerProof,
  v8Codec,
} from "../../src/protocol.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";

/** One HTTP answer read off a raw connection: its status, headers and every byte of it. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly raw: string;
}

/**
 * A raw client connection to the runner port: writes exactly the bytes a test gives and reads
 * answers one at a time, so a test can do (or skip, or twist) each step of the handshake.
 */
export class RawConnection {
  private buffered = "";
  private closedFlag = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.buffered += chunk;
      this.wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closedFlag = true;
      this.wake?.();
    });
  }

  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    return new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  /** Writes `request` and resolves with the next whole answer (headers and Content-Length body). */
  async exchange(request: string | Buffer): Promise<RawAnswer> {
    this.socket.write(request);
    for (;;) {
      const end = this.buffered.indexOf("\r\n\r\n");
      if (end !== -1) {
        const head = this.buffered.slice(0, end);
        const headers: Record<string, string> = {};
        for (const line of head.split("\r\n").slice(1)) {
          const colon = line.indexOf(":");
          if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (this.buffered.length >= end + 4 + length) {
          const raw = this.buffered.slice(0, end + 4 + length);
          this.buffered = this.buffered.slice(raw.length);
          return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers, raw };
        }
      }
      if (this.closedFlag) throw new Error(`closed without a whole answer: ${this.buffered}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Request 1 of the handshake (protocol/handshake.ts), as the runner writes it. */
export function challengeRequest(
  runnerId: string,
  nonce: string = newNonce(),
  extra: Record<string, string> = {},
): string {
  return httpRequest("GET", {
    [HEADER_RUNNER]: runnerId,
    [HEADER_NONCE]: nonce,
    [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
    ...extra,
  });
}

/** A WebSocket upgrade request with `headers`. */
export function upgradeRequest(headers: Record<string, string>, method = "GET"): string {
  return httpRequest(method, {
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": Buffer.from("0123456789abcdef").toString("base64"),
    ...headers,
  });
}

function httpRequest(method: string, headers: Record<string, string>): string {
  const lines = [`${method} / HTTP/1.1`, "Host: 127.0.0.1"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** The nonces of a challenge answered to `runnerNonce`. */
export function noncesOf(
  answer: RawAnswer,
  runnerId: string,
  runnerNonce: string,
): ChallengeNonces {
  return { runnerId, runnerNonce, parentNonce: answer.headers[HEADER_CHALLENGE] ?? "" };
}

/** The upgrade headers of a runner answering `nonces` with the proof under `token`. */
export function proofHeaders(token: string, nonces: ChallengeNonces): Record<string, string> {
  return {
    [HEADER_RUNNER]: nonces.runnerId,
    [HEADER_PROOF]: runnerProof(token, nonces),
    [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
  };
}

/**
 * The whole handshake as `runnerId` holding `token` (right or wrong) on one raw connection;
 * `upgrade` changes the upgrade's headers. Resolves with the upgrade's answer; the connection
 * is closed afterwards.
 */
export async function handshake(
  url: string,
  auth: { readonly runnerId: string; readonly token: string },
  upgrade: { readonly headers?: Record<string, string>; readonly method?: string } = {},
): Promise<RawAnswer> {
  const conn = await RawConnection.open(url);
  try {
    const nonce = newNonce();
    const challenge = await conn.exchange(challengeRequest(auth.runnerId, nonce));
    const nonces = noncesOf(challenge, auth.runnerId, nonce);
    return await conn.exchange(
      upgradeRequest({ ...proofHeaders(auth.token, nonces), ...upgrade.headers }, upgrade.method),
    );
  } finally {
    conn.close();
  }
}

export class FakeRunner {
  readonly received: AnyMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on("message", (data) => {
      const decoded = decodeFrame(data as Buffer, v8Codec);
      if (decoded.ok) this.received.push(decoded.msg);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /**
   * Connects as `runnerId` with `token`: the challenge–response both ways (the parent's proof
   * is checked, as the runner agent does), then the upgrade. `tlsCertSha256` pins a `wss://`
   * parent's certificate.
   */
  static async connect(
    url: string,
    auth: { runnerId: string; token: string },
    options: { autoPong?: boolean; tlsCertSha256?: string } = {},
  ): Promise<FakeRunner> {
    const proved = await challengeParent({
      url,
      runnerId: auth.runnerId,
      token: auth.token,
      tlsCertSha256: options.tlsCertSha256,
      signal: AbortSignal.timeout(10_000),
    });
    if (proved.kind !== "proved") throw new Error(`FakeRunner: ${proved.reason}`);
    const ws = new WebSocket(url, {
      autoPong: options.autoPong ?? true,
      headers: { ...proved.headers },
      createConnection: () => proved.socket,
    });
    ws.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`FakeRunner: upgrade refused with HTTP ${res.statusCode}`)),
      );
    });
    return new FakeRunner(ws);
  }

  send(msg: AnyMessage): void {
    this.ws.send(encodeFrame(msg, v8Codec, 64 * 1024 * 1024));
  }

  hello(runnerId: string, functions: string[] = ["echo", "slow"]): void {
    this.send({
      t: "hello",
      runnerId,
      protocol: PROTOCOL_VERSION,
      functions,
      agentVersion: "fake",
      pid: 1,
      host: "fake",
      threads: 1,
    });
  }

  /** Resolves with the first received message matching `pred`, within a generous bound. */
  async next<T extends AnyMessage>(pred: (m: AnyMessage) => m is T, boundMs = 10_000): Promise<T> {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const found = this.received.find(pred);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error("FakeRunner: expected message never arrived");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

export const isT =
  <K extends AnyMessage["t"]>(t: K) =>
  (m: AnyMessage): m is Extract<AnyMessage, { t: K }> =>
    m.t === t;
