/**
 * Browser side of the telemetry stream: one WebSocket per endpoint, reconnect with capped
 * exponential backoff, a resync request on a seq gap, and a tiny subscribable store for
 * React (`useSyncExternalStore`). Renders are throttled; the pool views are mutated in place
 * and `version` tells React something changed.
 */
import type { TelemetryServerMessage } from "@flame-ts/pool-core/telemetry";
import {
  applyEvent,
  applySnapshot,
  createPoolView,
  type PoolView,
  SAMPLE_PERIOD_MS,
  takeSample,
} from "./pool-view";

export type ConnectionStatus =
  | { readonly kind: "connecting"; readonly attempt: number }
  | { readonly kind: "open"; readonly sinceMs: number }
  | { readonly kind: "retrying"; readonly atMs: number; readonly reason: string };

export interface Endpoint {
  /** The URL to dial (may carry `?token=`). */
  readonly url: string;
  /** The URL without its token, for display. */
  readonly label: string;
  status: ConnectionStatus;
  readonly pools: Map<string, PoolView>;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const RENDER_EVERY_MS = 250;

export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.searchParams.delete("token");
    return parsed.toString();
  } catch {
    return url;
  }
}

export class TelemetryClient {
  readonly endpoints: Endpoint[];
  #version = 0;
  readonly #listeners = new Set<() => void>();
  readonly #sockets = new Map<Endpoint, WebSocket>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #sampler: ReturnType<typeof setInterval> | null = null;
  #renderScheduled = false;
  #stopped = false;

  constructor(urls: readonly string[]) {
    this.endpoints = urls.map((url) => ({
      url,
      label: displayUrl(url),
      status: { kind: "connecting", attempt: 1 },
      pools: new Map(),
    }));
  }

  start(): void {
    this.#stopped = false;
    for (const endpoint of this.endpoints) this.#connect(endpoint, 1);
    this.#sampler = setInterval(() => {
      const now = Date.now();
      for (const endpoint of this.endpoints) {
        for (const view of endpoint.pools.values()) takeSample(view, now);
      }
      this.#changed();
    }, SAMPLE_PERIOD_MS);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#sampler !== null) clearInterval(this.#sampler);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getVersion = (): number => this.#version;

  #connect(endpoint: Endpoint, attempt: number): void {
    if (this.#stopped) return;
    endpoint.status = { kind: "connecting", attempt };
    this.#changed();
    let socket: WebSocket;
    try {
      socket = new WebSocket(endpoint.url);
    } catch (error) {
      this.#retry(endpoint, attempt, String(error));
      return;
    }
    this.#sockets.set(endpoint, socket);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      endpoint.status = { kind: "open", sinceMs: Date.now() };
      this.#changed();
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      this.#handle(endpoint, socket, JSON.parse(message.data) as TelemetryServerMessage);
    };
    socket.onclose = (event) => {
      if (this.#sockets.get(endpoint) !== socket) return;
      this.#sockets.delete(endpoint);
      const reason = event.reason || (opened ? "connection lost" : "could not connect");
      // A connection that was up starts over at the shortest backoff.
      this.#retry(endpoint, opened ? 1 : attempt + 1, reason);
    };
  }

  #retry(endpoint: Endpoint, attempt: number, reason: string): void {
    if (this.#stopped) return;
    const delayMs = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (attempt - 1));
    endpoint.status = { kind: "retrying", atMs: Date.now() + delayMs, reason };
    this.#changed();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#connect(endpoint, attempt);
    }, delayMs);
    this.#timers.add(timer);
  }

  #handle(endpoint: Endpoint, socket: WebSocket, message: TelemetryServerMessage): void {
    switch (message.type) {
      case "hello":
        // Pools the server no longer has are dropped; their views restart from snapshots.
        for (const name of endpoint.pools.keys()) {
          if (!message.pools.includes(name)) endpoint.pools.delete(name);
        }
        break;
      case "snapshot": {
        const view = endpoint.pools.get(message.pool);
        if (view === undefined) endpoint.pools.set(message.pool, createPoolView(message.snapshot));
        else applySnapshot(view, message.snapshot);
        break;
      }
      case "events":
        for (const event of message.events) {
          const view = endpoint.pools.get(event.pool);
          if (view === undefined) continue;
          const wasAwaiting = view.awaitingSnapshot;
          if (applyEvent(view, event) === "gap" && !wasAwaiting) {
            socket.send(JSON.stringify({ type: "resync", pool: event.pool }));
          }
        }
        break;
    }
    this.#changed();
  }

  #changed(): void {
    if (this.#renderScheduled) return;
    this.#renderScheduled = true;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#renderScheduled = false;
      this.#version += 1;
      for (const listener of this.#listeners) listener();
    }, RENDER_EVERY_MS);
    this.#timers.add(timer);
  }
}
