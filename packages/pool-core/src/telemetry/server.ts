/**
 * `serveTelemetry`: a ws endpoint that streams pools' snapshots and events as JSON text
 * frames (protocol in `stream-messages.ts`). One JSON encoding per batch is shared by every
 * client; a client that can't keep up (its `bufferedAmount` passes `maxBufferedBytes`) is
 * dropped, so a slow dashboard never grows the app's memory without bound.
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { FlameError, invalidOption } from "../errors.js";
import { tokensEqual } from "../protocol/token.js";
import type { PoolEvent } from "./events.js";
import type { ObservablePool } from "./instrument.js";
import {
  TELEMETRY_STREAM_VERSION,
  type TelemetryClientMessage,
  type TelemetryServerMessage,
} from "./stream-messages.js";

export interface TelemetryServerOptions {
  /** The pools to stream (each `Pool` fits); names must be unique. */
  readonly pools: readonly ObservablePool[];
  /** Interface to listen on. Default "127.0.0.1" (local only). */
  readonly host?: string;
  /** Default 0: any free port (read it from the result). */
  readonly port?: number;
  /** When set, clients must send it as `?token=` or `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** A client whose unsent data passes this is disconnected. Default 4 MiB. */
  readonly maxBufferedBytes?: number;
  /** How often every client gets fresh snapshots (live gauges). Default 1,000 ms; 0 = never. */
  readonly snapshotIntervalMs?: number;
  /** Ping period; a client that misses a pong for one period is dropped. Default 10,000 ms. */
  readonly heartbeatIntervalMs?: number;
}

export interface TelemetryServer {
  /** `ws://host:port/` (without the token). */
  readonly url: string;
  readonly port: number;
  /** Clients connected right now. */
  readonly clientCount: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;

interface Client {
  readonly ws: WebSocket;
  alive: boolean;
}

export async function serveTelemetry(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const o = validate(options);
  const pools = new Map(o.pools.map((pool) => [pool.name, pool]));
  const clients = new Set<Client>();
  let pending: PoolEvent[] = [];
  let flushScheduled: NodeJS.Immediate | null = null;

  const send = (client: Client, payload: string) => {
    if (client.ws.readyState !== client.ws.OPEN) return;
    client.ws.send(payload);
    if (client.ws.bufferedAmount > o.maxBufferedBytes) {
      // Too slow to keep up: drop it rather than buffer without bound. It may reconnect.
      clients.delete(client);
      client.ws.terminate();
    }
  };

  const flush = () => {
    if (flushScheduled !== null) clearImmediate(flushScheduled);
    flushScheduled = null;
    if (pending.length === 0) return;
    const message: TelemetryServerMessage = { type: "events", events: pending };
    pending = [];
    if (clients.size === 0) return;
    const payload = JSON.stringify(message);
    for (const client of clients) send(client, payload);
  };

  /** One JSON encoding per pool, shared by every client it goes to. */
  const snapshotPayloads = (only?: string): string[] => {
    const payloads: string[] = [];
    for (const pool of pools.values()) {
      if (only !== undefined && pool.name !== only) continue;
      const message: TelemetryServerMessage = {
        type: "snapshot",
        pool: pool.name,
        snapshot: pool.events.snapshot(),
      };
      payloads.push(JSON.stringify(message));
    }
    return payloads;
  };

  const unsubscribes = [...pools.values()].map((pool) =>
    pool.events.subscribe((event) => {
      if (clients.size === 0) return;
      pending.push(event);
      flushScheduled ??= setImmediate(flush);
    }),
  );

  const wss = new WebSocketServer({
    host: o.host,
    port: o.port,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
    verifyClient: (info: { req: IncomingMessage }) =>
      o.token === undefined || hasToken(info.req, o.token),
  });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", (error) =>
      reject(
        new FlameError(
          "INVALID_OPTIONS",
          `serveTelemetry could not listen on ${o.host}:${o.port}: ${error.message}. Pick another \`port\` (0 = any free port).`,
          { field: "port", cause: error },
        ),
      ),
    );
  });

  wss.on("connection", (ws) => {
    // Everything queued so far predates this client's snapshot.
    flush();
    const client: Client = { ws, alive: true };
    clients.add(client);
    ws.on("pong", () => {
      client.alive = true;
    });
    ws.on("close", () => clients.delete(client));
    ws.on("error", () => clients.delete(client));
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : parseClientMessage(data.toString());
      if (message?.type !== "resync") return;
      flush();
      for (const payload of snapshotPayloads(message.pool)) send(client, payload);
    });
    const hello: TelemetryServerMessage = {
      type: "hello",
      version: TELEMETRY_STREAM_VERSION,
      pools: [...pools.keys()],
    };
    send(client, JSON.stringify(hello));
    for (const payload of snapshotPayloads()) send(client, payload);
  });

  const snapshotTimer =
    o.snapshotIntervalMs > 0
      ? setInterval(() => {
          if (clients.size === 0) return;
          flush();
          const payloads = snapshotPayloads();
          for (const client of clients) for (const payload of payloads) send(client, payload);
        }, o.snapshotIntervalMs)
      : null;
  snapshotTimer?.unref();
  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        clients.delete(client);
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }, o.heartbeatIntervalMs);
  heartbeat.unref();

  const address = wss.address() as AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      for (const unsubscribe of unsubscribes) unsubscribe();
      if (snapshotTimer !== null) clearInterval(snapshotTimer);
      clearInterval(heartbeat);
      if (flushScheduled !== null) clearImmediate(flushScheduled);
      for (const client of clients) client.ws.terminate();
      clients.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    })();
    return closing;
  };
  return {
    url: `ws://${urlHost}:${address.port}/`,
    port: address.port,
    get clientCount() {
      return clients.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function hasToken(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  if (typeof auth === "string" && auth.startsWith("Bearer ")) {
    if (tokensEqual(auth.slice("Bearer ".length).trim(), token)) return true;
  }
  const query = new URL(req.url ?? "/", "ws://localhost").searchParams.get("token");
  return query !== null && tokensEqual(query, token);
}

function parseClientMessage(text: string): TelemetryClientMessage | undefined {
  try {
    const value = JSON.parse(text) as { type?: unknown; pool?: unknown };
    if (value?.type !== "resync") return undefined;
    return typeof value.pool === "string"
      ? { type: "resync", pool: value.pool }
      : { type: "resync" };
  } catch {
    return undefined;
  }
}

interface ValidOptions {
  readonly pools: readonly ObservablePool[];
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly maxBufferedBytes: number;
  readonly snapshotIntervalMs: number;
  readonly heartbeatIntervalMs: number;
}

function validate(options: TelemetryServerOptions): ValidOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("serveTelemetry options", "an object { pools }", options);
  }
  const { pools } = options;
  if (!Array.isArray(pools) || pools.length === 0) {
    throw invalidOption("pools", "a non-empty array of pools", pools);
  }
  const names = new Set<string>();
  for (const [i, pool] of pools.entries()) {
    const p = pool as Partial<ObservablePool> | null;
    if (typeof p?.name !== "string" || typeof p.events?.subscribe !== "function") {
      throw invalidOption(`pools[${i}]`, "a Pool (with name and events)", pool);
    }
    if (names.has(p.name)) throw invalidOption(`pools[${i}].name`, "a unique pool name", p.name);
    names.add(p.name);
  }
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0) {
    throw invalidOption("host", "an interface address such as 127.0.0.1", host);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw invalidOption("port", "an integer port from 0 to 65535", port);
  }
  const token = options.token;
  if (token !== undefined && (typeof token !== "string" || token.length === 0)) {
    throw invalidOption("token", "a non-empty string", token);
  }
  return {
    pools,
    host,
    port,
    token,
    maxBufferedBytes: positive(
      options.maxBufferedBytes,
      DEFAULT_MAX_BUFFERED_BYTES,
      "maxBufferedBytes",
    ),
    snapshotIntervalMs: nonNegative(options.snapshotIntervalMs, 1_000, "snapshotIntervalMs"),
    heartbeatIntervalMs: positive(options.heartbeatIntervalMs, 10_000, "heartbeatIntervalMs"),
  };
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, "a positive finite number", value);
  }
  return value;
}

function nonNegative(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidOption(field, "a finite number ≥ 0", value);
  }
  return value;
}
