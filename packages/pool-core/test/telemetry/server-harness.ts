/** Shared by the serveTelemetry tests: a fake pool and a raw `ws` client that records messages. */
import { vi } from "vitest";
import WebSocket from "ws";
import { type PoolEvent, PoolEventStream, type PoolSnapshot } from "../../src/telemetry/events.js";
import type { TelemetryServerMessage } from "../../src/telemetry.js";

export function fakePool(name: string, snapshot: Partial<PoolSnapshot> = {}) {
  const events = new PoolEventStream({
    pool: name,
    nowMs: () => Date.now(),
    snapshot: () => ({
      name,
      min: 0,
      max: 4,
      maxConcurrency: 10,
      maxWaiting: null,
      buffer: 0,
      budget: null,
      draining: false,
      waiting: 0,
      pendingBoots: 0,
      runners: [],
      ...snapshot,
    }),
  });
  return { name, events };
}

/** Collects a client's messages; `until` waits (bounded) for a condition on them. */
export class Client {
  readonly messages: TelemetryServerMessage[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on("message", (data) => {
      this.messages.push(JSON.parse(data.toString()) as TelemetryServerMessage);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }

  events(): PoolEvent[] {
    return this.messages.flatMap((m) => (m.type === "events" ? m.events : []));
  }

  async until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    await vi.waitFor(
      () => {
        if (!check()) throw new Error(`timed out waiting for ${what}`);
      },
      { timeout: timeoutMs, interval: 10 },
    );
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The HTTP status a ws upgrade got: 101 when it opened, else the refusal's status. */
export async function upgradeStatus(
  url: string,
  options?: WebSocket.ClientOptions,
): Promise<number> {
  const ws = new WebSocket(url, options);
  ws.on("error", () => {});
  return new Promise<number>((resolve) => {
    ws.once("unexpected-response", (req, res) => {
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    ws.once("open", () => {
      ws.terminate();
      resolve(101);
    });
  });
}
