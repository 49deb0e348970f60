"use client";

import { useEffect, useState, useSyncExternalStore } from "react";
import { type ConnectionStatus, TelemetryClient } from "../lib/telemetry-client";
import { postAction } from "./Actions";
import { PoolPanel } from "./PoolPanel";

const WINDOWS = [
  { label: "1 min", seconds: 60 },
  { label: "5 min", seconds: 300 },
  { label: "15 min", seconds: 900 },
] as const;

export function Dashboard({ labels, csrf }: { labels: readonly string[]; csrf: string }) {
  const [client] = useState(() => new TelemetryClient(labels));
  const [windowSeconds, setWindowSeconds] = useState<number>(300);
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  useSyncExternalStore(client.subscribe, client.getVersion, () => 0);
  const nowMs = Date.now();

  return (
    <main className="page">
      <header className="top">
        <h1>
          <span className="flame" aria-hidden="true">
            ▲
          </span>{" "}
          flame-ts
        </h1>
        <ul className="endpoints" aria-label="Telemetry endpoints">
          {client.endpoints.map((e) => (
            <li
              key={e.label}
              className="endpoint"
              data-testid="connection"
              data-status={e.status.kind}
            >
              <span className={`dot dot-${e.status.kind}`} aria-hidden="true" />
              <span className="mono">{e.label}</span>
              <span className="muted">{describe(e.status, nowMs)}</span>
            </li>
          ))}
        </ul>
        <fieldset className="window">
          <legend className="visually-hidden">Chart window</legend>
          {WINDOWS.map((w) => (
            <button
              key={w.seconds}
              type="button"
              aria-pressed={w.seconds === windowSeconds}
              className={w.seconds === windowSeconds ? "active" : ""}
              onClick={() => setWindowSeconds(w.seconds)}
            >
              {w.label}
            </button>
          ))}
        </fieldset>
        <form method="post" action="/api/logout">
          <button type="submit" className="link">
            Log out
          </button>
        </form>
      </header>
      {labels.length === 0 ? (
        <p className="empty big">
          No telemetry endpoint configured. Start the dashboard with{" "}
          <code>flame-dashboard --telemetry ws://127.0.0.1:PORT</code> (repeat it, or comma-separate
          several; the token goes in <code>FLAME_TELEMETRY_TOKEN</code>).
        </p>
      ) : null}
      {client.endpoints.flatMap((e, index) =>
        [...e.pools.values()].map((view) => (
          <PoolPanel
            key={`${e.label}#${view.name}`}
            view={view}
            windowSeconds={windowSeconds}
            nowMs={nowMs}
            act={e.control ? (request) => postAction(csrf, index, view.name, request) : null}
          />
        )),
      )}
    </main>
  );
}

function describe(status: ConnectionStatus, nowMs: number): string {
  switch (status.kind) {
    case "open":
      return "live";
    case "connecting":
      return "connecting";
    case "retrying":
      return `${status.reason}; retrying in ${Math.max(0, Math.ceil((status.atMs - nowMs) / 1000))} s`;
  }
}
