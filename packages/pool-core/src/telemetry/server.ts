/**
 * `serveTelemetry`: a ws endpoint that streams pools' snapshots and events as JSON text
 * frames (protocol in `stream-messages.ts`). One JSON encoding per batch is shared by every
 * client; a client that can't keep up (its `bufferedAmount` passes `maxBufferedBytes`) is
 * dropped, so a slow dashboard never grows the app's memory without bound.
 *
 * At the upgrade, before anything is sent: a browser `Origin` not listed is refused (403), a
 * client past `maxClients` is refused (503), and a missing or wrong token is refused (401).
 * A client that connects late first gets each pool's bounded history (`history.ts`).
 * Operator actions are opt-in (`control: true` with a token; `server-control.ts`).
 *
 * Without a token, anyone on the machine can connect, so failures go out without their text
 * (`withhold.ts`): a failed call's message, a boot error or a runner's last stderr line can
 * carry a secret. We withhold rather than generate a token so that the quick start (and any
 * dashboard started without FLAME_TELEMETRY_TOKEN) keeps working: every figure, code and event
 * is still there. `errorMessages: true` opts in explicitly; with a token they are sent.
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebSocket } from "ws";
import { FlameError } from "../errors.js";
import { tokensEqual } from "../protocol/token.js";
import type { PoolEvent } from "./events.js";
import { PoolHistory } from "./history.js";
import { type ControllablePool, parseClientMessage, runControl } from "./server-control.js";
import {
  isLoopback,
  type TelemetryServerOptions,
  validateTelemetryOptions,
} from "./server-options.js";
import { TELEMETRY_STREAM_VERSION, type TelemetryServerMessage } from "./stream-messages.js";
import { withholdMessages } from "./withhold.js";

export type { TelemetryServerOptions } from "./server-options.js";

export interface TelemetryServer {
  /** `ws://host:port/` (without the token). */
  readonly url: string;
  readonly port: number;
  /** Clients connected right now. */
  readonly clientCount: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;
/**
 * Events that only move counters (slots in use, calls served, callers waiting): the periodic
 * snapshot keeps those live, so a busy pool's call rate does not multiply snapshots. Every
 * other event (boots, exits, shrink, drain, resize, control, and any added later) is followed
 * by a fresh snapshot of its pool.
 */
const CALL_LEVEL: ReadonlySet<PoolEvent["type"]> = new Set<PoolEvent["type"]>([
  "callFinished",
  "checkoutWaited",
  "checkoutTimeout",
  "overloaded",
]);

interface Client {
  readonly ws: WebSocket;
  alive: boolean;
  /** When this client's last honoured `resync` was (rate limit). */
  lastResyncMs: number;
}

export async function serveTelemetry(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const o = validateTelemetryOptions(options);
  // Loaded on first use, not at import (see RunnerServer.listen).
  const { WebSocketServer } = await import("ws");
  const pools = new Map<string, ControllablePool>(o.pools.map((pool) => [pool.name, pool]));
  const clients = new Set<Client>();
  let pending: PoolEvent[] = [];
  let flushScheduled: NodeJS.Immediate | null = null;
  // Decided once per server: every client of it passed the same check at the upgrade.
  const outgoing = o.errorMessages ? (event: PoolEvent) => event : withholdMessages;

  if (o.token === undefined && !isLoopback(o.host)) {
    o.log(
      "warn",
      `serveTelemetry listens on ${o.host} without a token: anyone who can reach this port reads every pool's runners, addresses and function names${o.errorMessages ? ", and failure messages (errorMessages: true)" : ""}. Pass \`token\` (and give the dashboard FLAME_TELEMETRY_TOKEN).`,
      { host: o.host },
    );
  }

  const send = (client: Client, payload: string) => {
    if (client.ws.readyState !== client.ws.OPEN) return;
    client.ws.send(payload);
    if (client.ws.bufferedAmount > o.maxBufferedBytes) {
      // Too slow to keep up: drop it rather than buffer without bound. It may reconnect.
      clients.delete(client);
      client.ws.terminate();
    }
  };
  const sendAll = (payload: string) => {
    for (const client of clients) send(client, payload);
  };
  const broadcast = (message: TelemetryServerMessage) => {
    if (clients.size === 0) return;
    sendAll(JSON.stringify(message));
  };

  const flush = () => {
    if (flushScheduled !== null) clearImmediate(flushScheduled);
    flushScheduled = null;
    if (pending.length === 0) return;
    const events = pending;
    pending = [];
    broadcast({ type: "events", events });
    // The pool's own account of what those events did (a runner booting, leaving, draining),
    // so a client shows it from the pool instead of re-deriving it from events.
    const reshaped = new Set(events.filter((e) => !CALL_LEVEL.has(e.type)).map((e) => e.pool));
    for (const pool of reshaped) for (const payload of snapshotPayloads(pool)) sendAll(payload);
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

  const histories = new Map<string, PoolHistory>();
  if (o.historyMs > 0) {
    for (const pool of pools.values()) {
      histories.set(
        pool.name,
        new PoolHistory(pool.events, {
          historyMs: o.historyMs,
          samplePeriodMs: o.samplePeriodMs,
          maxEvents: o.maxHistoryEvents,
        }),
      );
    }
  }
  const sampler =
    histories.size > 0
      ? setInterval(() => {
          flush();
          const nowMs = Date.now();
          for (const [pool, history] of histories) {
            broadcast({ type: "sample", pool, sample: history.takeSample(nowMs) });
          }
        }, o.samplePeriodMs)
      : null;
  sampler?.unref();

  const unsubscribes = [...pools.values()].map((pool) =>
    pool.events.subscribe((event) => {
      if (clients.size === 0) return;
      pending.push(outgoing(event));
      flushScheduled ??= setImmediate(flush);
    }),
  );

  const wss = new WebSocketServer({
    host: o.host,
    port: o.port,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
    verifyClient: (
      info: { req: IncomingMessage; origin: string | undefined },
      accept: (ok: boolean, code?: number, message?: string) => void,
    ) => {
      const origin = info.req.headers.origin;
      if (origin !== undefined && !o.allowedOrigins.has(origin)) {
        accept(false, 403, "Origin not allowed: list it in serveTelemetry's allowedOrigins");
      } else if (clients.size >= o.maxClients) {
        accept(false, 503, "Too many telemetry clients (maxClients)");
      } else if (o.token !== undefined && !hasToken(info.req, o.token)) {
        accept(false, 401, "Unauthorized: send the telemetry token as Authorization: Bearer");
      } else {
        accept(true);
      }
    },
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

  wss.on("connection", (ws, req) => {
    // `?history=0`: a client that only acts (or reconnects with its own state) skips the replay.
    const wantsHistory =
      new URL(req.url ?? "/", "ws://localhost").searchParams.get("history") !== "0";
    // Everything queued so far predates this client's history and snapshot.
    flush();
    const client: Client = { ws, alive: true, lastResyncMs: Number.NEGATIVE_INFINITY };
    clients.add(client);
    ws.on("pong", () => {
      client.alive = true;
    });
    ws.on("close", () => clients.delete(client));
    ws.on("error", () => clients.delete(client));
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : parseClientMessage(data.toString());
      if (message === undefined) return;
      if (message.type === "control") {
        flush();
        const result = runControl(o.control, pools, message);
        // The control event the pool recorded goes out before the result.
        flush();
        send(client, JSON.stringify(result));
        return;
      }
      const nowMs = Date.now();
      if (nowMs - client.lastResyncMs < o.resyncIntervalMs) return;
      client.lastResyncMs = nowMs;
      flush();
      for (const payload of snapshotPayloads(message.pool)) send(client, payload);
    });
    send(
      client,
      JSON.stringify({
        type: "hello",
        version: TELEMETRY_STREAM_VERSION,
        pools: [...pools.keys()],
        control: o.control,
      } satisfies TelemetryServerMessage),
    );
    const nowMs = Date.now();
    for (const [pool, history] of wantsHistory ? histories : []) {
      const read = history.read(nowMs);
      const shown = o.errorMessages ? read : { ...read, events: read.events.map(outgoing) };
      send(client, JSON.stringify({ type: "history", pool, history: shown }));
    }
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
      for (const history of histories.values()) history.close();
      if (sampler !== null) clearInterval(sampler);
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
