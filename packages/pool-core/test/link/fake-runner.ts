/**
 * A hand-driven runner for parent-side tests: a raw ws client that sends exactly the frames a
 * test asks for and records every frame the parent sends.
 */
import { WebSocket } from "ws";
import {
  type AnyMessage,
  decodeFrame,
  encodeFrame,
  PROTOCOL_VERSION,
  v8Codec,
} from "../../src/protocol.js";

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

  static async connect(url: string, options: { autoPong?: boolean } = {}): Promise<FakeRunner> {
    const ws = new WebSocket(url, { autoPong: options.autoPong ?? true });
    ws.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new FakeRunner(ws);
  }

  send(msg: AnyMessage): void {
    this.ws.send(encodeFrame(msg, v8Codec, 64 * 1024 * 1024));
  }

  hello(runnerId: string, token: string, functions: string[] = ["echo", "slow"]): void {
    this.send({
      t: "hello",
      runnerId,
      token,
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
