"use client";

import { useEffect, useState, useSyncExternalStore } from "react";
import { type ConnectionStatus, TelemetryClient } from "../lib/telemetry-client";
import { PoolPanel } from "./PoolPanel";

const WINDOWS = [
  { label: "1 min", seconds: 60 },
  { label: "5 min", seconds: 300 },
  { label: "15 min", seconds: 900 },
] as const;

export function Dashboard({ urls }: { urls: readonly string[] }) {
  const [client] = useState(() => new TelemetryClient(urls));
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
          <span className="flame">▲</span> flame-ts
        </h1>
        <div className="endpoints">
          {client.endpoints.map((e) => (
            <span
              key={e.url}
              className="endpoint"
              data-testid="connection"
              data-status={e.status.kind}
            >
              <span className={`dot dot-${e.status.kind}`} />
              <span className="mono">{e.label}</span>
              <span className="muted">{describe(e.status, nowMs)}</span>
            </span>
          ))}
        </div>
        <fieldset className="window" aria-label="Chart window">
          {WINDOWS.map((w) => (
            <button
              key={w.seconds}
              type="button"
              className={w.seconds === windowSeconds ? "active" : ""}
              onClick={() => setWindowSeconds(w.seconds)}
            >
              {w.label}
            </button>
          ))}
        </fieldset>
      </header>
      {urls.length === 0 ? (
        <p className="empty big">
          No telemetry endpoint configured. Start the dashboard with{" "}
          <code>FLAME_TELEMETRY_URL=ws://127.0.0.1:PORT/</code> (comma-separate several; add{" "}
          <code>?token=…</code> when the server has one).
        </p>
      ) : null}
      {client.endpoints.flatMap((e) =>
        [...e.pools.values()].map((view) => (
          <PoolPanel
            key={`${e.url}#${view.name}`}
            view={view}
            windowSeconds={windowSeconds}
            nowMs={nowMs}
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
      return status.attempt > 1 ? `connecting (attempt ${status.attempt})` : "connecting";
    case "retrying":
      return `${status.reason}; retrying in ${Math.max(0, Math.ceil((status.atMs - nowMs) / 1000))} s`;
  }
}
