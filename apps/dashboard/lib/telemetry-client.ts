/**
 * Browser side of the telemetry stream. The page never dials a telemetry endpoint: it reads
 * one Server-Sent Events stream from the dashboard's own server (`/api/stream`), which relays
 * every endpoint's messages and status (see `lib/server/upstream.ts`). On a seq gap the
 * stream is reopened, which replays history and a fresh snapshot. A tiny subscribable store
 * for React (`useSyncExternalStore`); renders are throttled.
 */
import type { TelemetryServerMessage } from "@flame-ts/pool-core/telemetry";
import {
  applyEvent,
  applyHistory,
  applySample,
  applySnapshot,
  createPoolView,
  type PoolView,
} from "./pool-view";

export type ConnectionStatus =
  | { readonly kind: "connecting" }
  | { readonly kind: "open"; readonly sinceMs: number }
  | { readonly kind: "retrying"; readonly atMs: number; readonly reason: string };

export interface Endpoint {
  /** The endpoint's URL without its token, for display. */
  readonly label: string;
  status: ConnectionStatus;
  /** True when its telemetry server takes actions. */
  control: boolean;
  readonly pools: Map<string, PoolView>;
}

type Frame =
  | { readonly e: number; readonly m: TelemetryServerMessage }
  | {
      readonly e: number;
      readonly status: "open" | "retrying";
      readonly reason?: string;
      readonly retryMs?: number;
    };

const RENDER_EVERY_MS = 250;

export class TelemetryClient {
  readonly endpoints: Endpoint[];
  #version = 0;
  readonly #listeners = new Set<() => void>();
  #source: EventSource | null = null;
  #renderTimer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  readonly #streamUrl: string;

  constructor(labels: readonly string[], streamUrl = "/api/stream") {
    this.#streamUrl = streamUrl;
    this.endpoints = labels.map((label) => ({
      label,
      status: { kind: "connecting" },
      control: false,
      pools: new Map(),
    }));
  }

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    this.#source?.close();
    this.#source = null;
    if (this.#renderTimer !== null) clearTimeout(this.#renderTimer);
    this.#renderTimer = null;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getVersion = (): number => this.#version;

  #open(): void {
    if (this.#stopped) return;
    this.#source?.close();
    const source = new EventSource(this.#streamUrl);
    this.#source = source;
    source.onmessage = (message: MessageEvent<string>) => {
      this.#handle(JSON.parse(message.data) as Frame);
    };
    source.onerror = () => {
      if (this.#source !== source) return;
      for (const endpoint of this.endpoints) {
        endpoint.status = {
          kind: "retrying",
          atMs: Date.now() + 3_000,
          reason: "dashboard server unreachable",
        };
      }
      this.#changed();
      // A lost session turns every reconnect into a 401: go back to the login page.
      void fetch("/api/session").then(
        (res) => {
          if (res.status === 401) window.location.assign("/login");
        },
        () => {},
      );
    };
  }

  #handle(frame: Frame): void {
    const endpoint = this.endpoints[frame.e];
    if (endpoint === undefined) return;
    if ("status" in frame) {
      endpoint.status =
        frame.status === "open"
          ? { kind: "open", sinceMs: Date.now() }
          : {
              kind: "retrying",
              atMs: Date.now() + (frame.retryMs ?? 0),
              reason: frame.reason ?? "connection lost",
            };
    } else {
      this.#message(endpoint, frame.m);
    }
    this.#changed();
  }

  #message(endpoint: Endpoint, message: TelemetryServerMessage): void {
    switch (message.type) {
      case "hello":
        endpoint.control = message.control === true;
        // Pools the server no longer has are dropped; their views restart from history.
        for (const name of endpoint.pools.keys()) {
          if (!message.pools.includes(name)) endpoint.pools.delete(name);
        }
        return;
      case "history": {
        // A placeholder snapshot until the real one (always next) arrives.
        const view = createPoolView({
          name: message.pool,
          min: 0,
          max: 0,
          maxConcurrency: 0,
          maxWaiting: null,
          buffer: 0,
          budget: null,
          draining: false,
          waiting: 0,
          pendingBoots: 0,
          runners: [],
          seq: 0,
          timeMs: Date.now(),
        });
        applyHistory(view, message.history);
        endpoint.pools.set(message.pool, view);
        return;
      }
      case "snapshot": {
        const view = endpoint.pools.get(message.pool);
        if (view === undefined) endpoint.pools.set(message.pool, createPoolView(message.snapshot));
        else applySnapshot(view, message.snapshot);
        return;
      }
      case "sample": {
        const view = endpoint.pools.get(message.pool);
        if (view !== undefined) applySample(view, message.sample);
        return;
      }
      case "events":
        for (const event of message.events) {
          const view = endpoint.pools.get(event.pool);
          if (view === undefined) continue;
          const wasAwaiting = view.awaitingSnapshot;
          // Missed events: reopen the stream (history and a fresh snapshot come first).
          if (applyEvent(view, event) === "gap" && !wasAwaiting) {
            queueMicrotask(() => this.#open());
            return;
          }
        }
        return;
      default:
        return;
    }
  }

  #changed(): void {
    if (this.#renderTimer !== null) return;
    this.#renderTimer = setTimeout(() => {
      this.#renderTimer = null;
      this.#version += 1;
      for (const listener of this.#listeners) listener();
    }, RENDER_EVERY_MS);
  }
}
