/**
 * A hand-driven runner for parent-side tests: a raw ws client that sends exactly the frames a
 * test asks for and records every frame the parent sends.
 */
import { WebSocket } from "ws";
import {
  type AnyMessage,
  bearer,
  decodeFrame,
  encodeFrame,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  v8Codec,
} from "../../src/protocol.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";

/** The upgrade headers a runner sends (protocol/handshake.ts). */
export function runnerHeaders(
  runnerId: string,
  token: string,
  nonce: string = newNonce(),
): Record<string, string> {
  return {
    [HEADER_RUNNER]: runnerId,
    authorization: bearer(token),
    [HEADER_NONCE]: nonce,
    [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
  };
}

/** Opens a raw ws client; resolves with the HTTP status it was refused with, or 101. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("error", () => {});
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once("open", () => {
      resolve(101);
      ws.terminate();
    });
    ws.once("close", () => reject(new Error("closed without an HTTP answer")));
  });
}

export class FakeRunner {
  readonly received: AnyMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  /** The parent's `x-flame-proof` from the 101 answer. */
  proof: string | undefined;

  private constructor(
    readonly ws: WebSocket,
    readonly nonce: string,
  ) {
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on("message", (data) => {
      const decoded = decodeFrame(data as Buffer, v8Codec);
      if (decoded.ok) this.received.push(decoded.msg);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Connects as `runnerId` with `token` (authenticated at the upgrade). */
  static async connect(
    url: string,
    auth: { runnerId: string; token: string },
    options: { autoPong?: boolean; ca?: string } = {},
  ): Promise<FakeRunner> {
    const nonce = newNonce();
    const ws = new WebSocket(url, {
      autoPong: options.autoPong ?? true,
      // Tests' self-signed certificates: trusted as their own CA, any host name.
      ...(options.ca === undefined ? {} : { ca: options.ca, checkServerIdentity: () => undefined }),
      headers: runnerHeaders(auth.runnerId, auth.token, nonce),
    });
    ws.on("error", () => {});
    let proof: string | undefined;
    ws.once("upgrade", (res) => {
      const value = res.headers[HEADER_PROOF];
      proof = typeof value === "string" ? value : undefined;
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const runner = new FakeRunner(ws, nonce);
    runner.proof = proof;
    return runner;
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
