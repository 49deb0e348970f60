/**
 * The dashboard server's side of the telemetry stream. The browser never dials a telemetry
 * endpoint: for each page, `relay` opens one connection per endpoint (with its token, from the
 * server), forwards every message as a Server-Sent Event, reports each endpoint's status, and
 * reconnects with capped backoff. `control` carries one operator action on a short-lived
 * connection. SIGTERM/SIGINT end every open relay so the server can close at once.
 */
import WebSocket from "ws";
import type { Upstream } from "./config";

/** What the browser receives, one per SSE `data:` line. */
export type RelayFrame =
  | { readonly e: number; readonly m: unknown }
  | {
      readonly e: number;
      readonly status: "open" | "retrying";
      readonly reason?: string;
      readonly retryMs?: number;
    };

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const CONTROL_TIMEOUT_MS = 10_000;

const RELAYS = Symbol.for("flame-ts.dashboard.relays");
interface Registry {
  readonly open: Set<() => void>;
  /** Set by SIGTERM/SIGINT: relays end at once and new ones are refused. */
  closing: boolean;
}

/** Every open relay in this process, ended together on SIGTERM/SIGINT. */
function registry(): Registry {
  const store = globalThis as { [RELAYS]?: Registry };
  if (store[RELAYS] === undefined) {
    const registry: Registry = { open: new Set(), closing: false };
    store[RELAYS] = registry;
    const endAll = () => {
      registry.closing = true;
      for (const end of [...registry.open]) end();
    };
    process.on("SIGTERM", endAll);
    process.on("SIGINT", endAll);
  }
  return store[RELAYS];
}

/** True once the server was asked to stop: the stream route answers 503 (EventSource stops). */
export function shuttingDown(): boolean {
  return registry().closing;
}

function headers(upstream: Upstream): Record<string, string> {
  return upstream.token === undefined ? {} : { authorization: `Bearer ${upstream.token}` };
}

/** Relays every upstream to `write` until the returned function is called. */
export function relay(
  upstreams: readonly Upstream[],
  write: (frame: RelayFrame) => void,
  onEnd: () => void,
): () => void {
  const sockets = new Set<WebSocket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let ended = false;

  const connect = (index: number, attempt: number) => {
    if (ended) return;
    const upstream = upstreams[index];
    if (upstream === undefined) return;
    const ws = new WebSocket(upstream.url, { headers: headers(upstream) });
    sockets.add(ws);
    let opened = false;
    ws.on("open", () => {
      opened = true;
      write({ e: index, status: "open" });
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      try {
        write({ e: index, m: JSON.parse(data.toString()) });
      } catch {
        // Not JSON: not a telemetry server; ignore the frame.
      }
    });
    let refusal: string | undefined;
    ws.on("unexpected-response", (req, res) => {
      refusal = `refused with HTTP ${res.statusCode}${res.statusCode === 401 ? " (check FLAME_TELEMETRY_TOKEN)" : ""}`;
      req.destroy();
    });
    ws.on("error", () => {});
    ws.on("close", () => {
      sockets.delete(ws);
      if (ended) return;
      const next = opened ? 1 : attempt + 1;
      const retryMs = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (next - 1));
      const reason = refusal ?? (opened ? "connection lost" : "could not connect");
      write({ e: index, status: "retrying", reason, retryMs });
      const timer = setTimeout(() => {
        timers.delete(timer);
        connect(index, next);
      }, retryMs);
      timers.add(timer);
    });
  };

  const relays = registry();
  const end = () => {
    if (ended) return;
    ended = true;
    relays.open.delete(end);
    for (const timer of timers) clearTimeout(timer);
    for (const ws of sockets) ws.terminate();
    sockets.clear();
    onEnd();
  };
  if (relays.closing) {
    end();
    return end;
  }
  relays.open.add(end);
  for (let i = 0; i < upstreams.length; i++) connect(i, 1);
  return end;
}

export type ControlRequest =
  | {
      readonly action: "drainRunner" | "killRunner";
      readonly pool: string;
      readonly runnerId: string;
    }
  | {
      readonly action: "resize";
      readonly pool: string;
      readonly min: number;
      readonly max: number;
    };

/** Sends one action to a telemetry server and waits for its answer (or a clear refusal). */
export function control(
  upstream: Upstream,
  request: ControlRequest,
  by: string,
): Promise<{ ok: boolean; detail: string }> {
  const url = new URL(upstream.url);
  url.searchParams.set("history", "0");
  const id = Math.random().toString(36).slice(2);
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: headers(upstream) });
    const finish = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      ws.terminate();
      resolve({ ok, detail });
    };
    const timer = setTimeout(
      () =>
        finish(
          false,
          `the telemetry server did not answer within ${CONTROL_TIMEOUT_MS / 1_000} s.`,
        ),
      CONTROL_TIMEOUT_MS,
    );
    ws.on("unexpected-response", (req, res) => {
      req.destroy();
      finish(false, `the telemetry server refused the connection (HTTP ${res.statusCode}).`);
    });
    ws.on("error", (error) =>
      finish(false, `could not reach the telemetry server: ${error.message}`),
    );
    ws.on("message", (data) => {
      let message: { type?: string; control?: boolean; id?: string; ok?: boolean; detail?: string };
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (message.type === "hello") {
        if (message.control !== true) {
          finish(
            false,
            "actions are disabled on this telemetry server (start serveTelemetry with `control: true` and a token).",
          );
          return;
        }
        ws.send(JSON.stringify({ type: "control", id, by, ...request }));
      } else if (message.type === "controlResult" && message.id === id) {
        finish(message.ok === true, String(message.detail ?? ""));
      }
    });
  });
}
