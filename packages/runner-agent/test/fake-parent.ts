/** A hand-driven parent: a raw ws server that welcomes one runner and records what it sends. */

import type { IncomingMessage } from "node:http";
import {
  type AnyMessage,
  decodeFrame,
  encodeFrame,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_RUNNER,
  parentProof,
  parseBearer,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * How the fake parent answers the upgrade: "prove" (the real parent's proof, computed from
 * the token the runner presented), "omit" (no proof) or "forge" (a proof under another key).
 */
export type ProofMode = "prove" | "omit" | "forge";

/** What the runner presented in its upgrade request. */
export interface SeenUpgrade {
  readonly headers: IncomingMessage["headers"];
}

export class FakeParent {
  readonly received: AnyMessage[] = [];
  readonly upgrades: SeenUpgrade[] = [];
  readonly connected: Promise<WebSocket>;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
    onHello: (ws: WebSocket, hello: AnyMessage) => void,
    proof: ProofMode,
  ) {
    wss.on("headers", (headers, req) => {
      this.upgrades.push({ headers: req.headers });
      const token = parseBearer(req.headers.authorization) ?? "";
      const runnerId = String(req.headers[HEADER_RUNNER] ?? "");
      const nonce = String(req.headers[HEADER_NONCE] ?? "");
      if (proof === "omit") return;
      const key = proof === "prove" ? token : `${token}-not-it`;
      headers.push(`${HEADER_PROOF}: ${parentProof(key, runnerId, nonce)}`);
    });
    this.connected = new Promise((resolve) => {
      wss.on("connection", (ws) => {
        ws.on("error", () => {});
        ws.once("message", (data) => {
          const decoded = decodeFrame(data as Buffer, v8Codec);
          if (!decoded.ok) return ws.terminate();
          onHello(ws, decoded.msg);
          ws.on("message", (more) => {
            const d = decodeFrame(more as Buffer, v8Codec);
            if (d.ok) this.received.push(d.msg);
            for (const w of this.waiters.splice(0)) w();
          });
          resolve(ws);
        });
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
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      autoPong: options.autoPong ?? true,
    });
    await new Promise((r) => wss.once("listening", r));
    const address = wss.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const onHello =
      options.onHello ??
      ((ws: WebSocket, hello: AnyMessage) => {
        if (hello.t === "hello") ws.send(frame({ t: "welcome", runnerId: hello.runnerId }));
      });
    return new FakeParent(wss, `ws://127.0.0.1:${port}`, onHello, options.proof ?? "prove");
  }

  async next<T extends AnyMessage>(pred: (m: AnyMessage) => m is T, boundMs = 10_000): Promise<T> {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const found = this.received.find(pred);
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
    return new Promise((r) => this.wss.close(() => r()));
  }
}

/** A call's input as it travels: the codec's bytes. */
export function input(value: unknown): Uint8Array {
  return new Uint8Array(v8Codec.encode(value));
}

export function frame(msg: AnyMessage): Buffer {
  return encodeFrame(msg, v8Codec, 64 * 1024 * 1024);
}
