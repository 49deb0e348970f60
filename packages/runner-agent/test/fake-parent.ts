/**
 * A hand-driven parent: a raw HTTP + ws server that answers one runner's challenge (protocol/
 * handshake.ts in pool-core), welcomes it and records what it sends, byte for byte.
 */

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import {
  type AnyMessage,
  type ChallengeNonces,
  decodeFrame,
  encodeFrame,
  generateToken,
  HEADER_CHALLENGE,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  parentProof,
  proofEquals,
  runnerProof,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import { PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * How the fake parent answers the challenge: "prove" (the real parent's proof, under the token
 * it holds), "omit" (no proof) or "forge" (a proof under another key: an impostor).
 */
export type ProofMode = "prove" | "omit" | "forge";

/** One HTTP request the runner sent (the challenge, then the upgrade). */
export interface SeenRequest {
  readonly upgrade: boolean;
  readonly headers: IncomingMessage["headers"];
}

export class FakeParent {
  /** The runner's token as this parent knows it: start runners with `descriptor(parent)`. */
  readonly token = generateToken();
  readonly received: AnyMessage[] = [];
  /** The runner's opening frames: `hello`, after `loading` when its entry was still loading. */
  readonly openings: AnyMessage[] = [];
  readonly requests: SeenRequest[] = [];
  /** Every byte any runner wrote to this parent, before and after the upgrade. */
  readonly bytesSeen: Buffer[] = [];
  readonly connected: Promise<WebSocket>;
  private waiters: Array<() => void> = [];
  private readonly challenges = new WeakMap<Socket, ChallengeNonces>();

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
    onHello: (ws: WebSocket, hello: AnyMessage) => void,
    proof: ProofMode,
  ) {
    http.on("connection", (socket: Socket) => {
      socket.on("data", (chunk: Buffer) => this.bytesSeen.push(chunk));
    });
    http.on("request", (req, res) => {
      this.requests.push({ upgrade: false, headers: req.headers });
      const nonces: ChallengeNonces = {
        runnerId: String(req.headers[HEADER_RUNNER] ?? ""),
        runnerNonce: String(req.headers[HEADER_NONCE] ?? ""),
        parentNonce: newNonce(),
      };
      this.challenges.set(req.socket, nonces);
      const key = proof === "prove" ? this.token : generateToken();
      res.writeHead(200, {
        [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
        [HEADER_CHALLENGE]: nonces.parentNonce,
        ...(proof === "omit" ? {} : { [HEADER_PROOF]: parentProof(key, nonces) }),
        "content-length": "0",
      });
      res.end();
    });
    http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.requests.push({ upgrade: true, headers: req.headers });
      const nonces = this.challenges.get(socket);
      const got = req.headers[HEADER_PROOF];
      if (
        nonces === undefined ||
        !proofEquals(runnerProof(this.token, nonces), typeof got === "string" ? got : undefined)
      ) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    });
    this.connected = new Promise((resolve) => {
      wss.on("connection", (ws) => {
        ws.on("error", () => {});
        const opening = (data: unknown): void => {
          const decoded = decodeFrame(data as Buffer, v8Codec);
          if (!decoded.ok) {
            ws.terminate();
            return;
          }
          this.openings.push(decoded.msg);
          for (const w of this.waiters.splice(0)) w();
          // Protocol 8: the hello follows once the runner's entry loaded.
          if (decoded.msg.t === "loading") {
            ws.once("message", opening);
            return;
          }
          onHello(ws, decoded.msg);
          ws.on("message", (more) => {
            const d = decodeFrame(more as Buffer, v8Codec);
            if (d.ok) this.received.push(d.msg);
            for (const w of this.waiters.splice(0)) w();
          });
          resolve(ws);
        };
        ws.once("message", opening);
      });
    });
  }

  /** `onHello` defaults to sending welcome; pass another to refuse or misbehave. */
  static async listen(
    options: {
      autoPong?: boolean;
      onHello?: (ws: WebSocket, hello: AnyMessage) => void;
      proof?: ProofMode;
    } = {},
  ): Promise<FakeParent> {
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const address = http.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const onHello =
      options.onHello ??
      ((ws: WebSocket, hello: AnyMessage) => {
        if (hello.t === "hello") ws.send(frame({ t: "welcome", runnerId: hello.runnerId }));
      });
    return new FakeParent(http, wss, `ws://127.0.0.1:${port}`, onHello, options.proof ?? "prove");
  }

  async next<T extends AnyMessage>(
    pred: (m: AnyMessage) => m is T,
    boundMs = 10_000,
    among: readonly AnyMessage[] = this.received,
  ): Promise<T> {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const found = among.find(pred);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error("FakeParent: expected message never arrived");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    return new Promise((r) => this.http.close(() => r()));
  }
}

/** A call's input as it travels: the codec's bytes. */
/** A type guard for the messages of kind `t` (e.g. `messages.find(isT("hello"))`). */
export const isT =
  <K extends AnyMessage["t"]>(t: K) =>
  (m: AnyMessage): m is Extract<AnyMessage, { t: K }> =>
    m.t === t;

export function input(value: unknown): Uint8Array {
  return new Uint8Array(v8Codec.encode(value));
}

export function frame(msg: AnyMessage): Buffer {
  return encodeFrame(msg, v8Codec, 64 * 1024 * 1024);
}
