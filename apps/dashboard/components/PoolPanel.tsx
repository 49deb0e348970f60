"use client";

import type { RunnerSnapshot } from "@flame-ts/pool-core/telemetry";
import { formatMs, type PoolView } from "../lib/pool-view";
import { Chart } from "./Chart";

interface PoolPanelProps {
  readonly view: PoolView;
  readonly windowSeconds: number;
  readonly nowMs: number;
}

const COLORS = {
  runners: "#2563eb",
  booting: "#f59e0b",
  slots: "#7c3aed",
  waiting: "#dc2626",
  calls: "#059669",
  p50: "#0891b2",
  p95: "#db2777",
  boot: "#ea580c",
};

export function PoolPanel({ view, windowSeconds, nowMs }: PoolPanelProps) {
  const s = view.snapshot;
  const ready = s.runners.filter((r) => r.state !== "booting");
  const used = s.runners.reduce((sum, r) => sum + r.inflight, 0);
  const capacity = ready.length * s.maxConcurrency;
  const samples = view.samples;
  return (
    <section className="pool" data-pool={s.name} data-samples={samples.t.length}>
      <header className="pool-header">
        <h2>{s.name}</h2>
        <div className="limits">
          <span className="chip">min {s.min}</span>
          <span className="chip">max {s.max}</span>
          <span className="chip">maxConcurrency {s.maxConcurrency}</span>
          {view.gaps > 0 ? <span className="chip muted">resynced {view.gaps}×</span> : null}
        </div>
      </header>

      <div className="stats">
        <Stat
          label="Runners"
          testId="runner-count"
          pool={s.name}
          value={String(ready.length)}
          note={`of max ${s.max}`}
        />
        <Stat label="Booting" testId="pending-boots" pool={s.name} value={String(s.pendingBoots)} />
        <Stat
          label="Slots in use"
          testId="slots-used"
          pool={s.name}
          value={String(used)}
          note={`of ${capacity}`}
        />
        <Stat label="Waiting callers" testId="waiting" pool={s.name} value={String(s.waiting)} />
        <Stat
          label="Calls"
          testId="calls-total"
          pool={s.name}
          value={String(view.totalCalls)}
          note={view.failedCalls > 0 ? `${view.failedCalls} failed` : "since connected"}
        />
      </div>

      <div className="charts">
        <Chart
          title="Runners"
          t={samples.t}
          windowSeconds={windowSeconds}
          testId="chart-runners"
          series={[
            { label: "ready", color: COLORS.runners, values: samples.runners },
            { label: "booting", color: COLORS.booting, values: samples.booting },
          ]}
        />
        <Chart
          title="Slots in use"
          t={samples.t}
          windowSeconds={windowSeconds}
          series={[{ label: "slots", color: COLORS.slots, values: samples.slotsUsed }]}
        />
        <Chart
          title="Waiting callers"
          t={samples.t}
          windowSeconds={windowSeconds}
          series={[{ label: "waiting", color: COLORS.waiting, values: samples.waiting }]}
        />
        <Chart
          title="Calls per second"
          t={samples.t}
          windowSeconds={windowSeconds}
          series={[{ label: "calls/s", color: COLORS.calls, values: samples.callsPerSecond }]}
        />
        <Chart
          title="Call latency"
          unit="ms"
          t={samples.t}
          windowSeconds={windowSeconds}
          series={[
            { label: "p50", color: COLORS.p50, values: samples.p50Ms },
            { label: "p95", color: COLORS.p95, values: samples.p95Ms },
          ]}
        />
        <Chart
          title="Boot time"
          unit="ms"
          t={samples.t}
          windowSeconds={windowSeconds}
          series={[{ label: "boot", color: COLORS.boot, values: samples.bootMs, points: true }]}
        />
      </div>

      <div className="lower">
        <RunnerTable runners={s.runners} maxConcurrency={s.maxConcurrency} nowMs={nowMs} />
        <Timeline view={view} />
      </div>
    </section>
  );
}

function Stat(props: {
  label: string;
  value: string;
  note?: string;
  testId: string;
  pool: string;
}) {
  return (
    <div className="stat">
      <div className="stat-label">{props.label}</div>
      <div className="stat-value" data-testid={props.testId} data-pool={props.pool}>
        {props.value}
      </div>
      {props.note === undefined ? null : <div className="stat-note">{props.note}</div>}
    </div>
  );
}

function RunnerTable(props: {
  runners: readonly RunnerSnapshot[];
  maxConcurrency: number;
  nowMs: number;
}) {
  const runners = [...props.runners].sort((a, b) => a.id.localeCompare(b.id));
  return (
    <div className="panel">
      <h3>Runners</h3>
      {runners.length === 0 ? (
        <p className="empty">No runners: the pool is scaled to zero.</p>
      ) : (
        <table className="runners">
          <thead>
            <tr>
              <th>Runner</th>
              <th>State</th>
              <th>Slots</th>
              <th>Uptime</th>
              <th>Calls</th>
              <th>Backend</th>
            </tr>
          </thead>
          <tbody>
            {runners.map((r) => {
              const share = props.maxConcurrency > 0 ? r.inflight / props.maxConcurrency : 0;
              return (
                <tr key={r.id} data-testid="runner-row">
                  <td className="mono">
                    {r.id}
                    {r.isMin ? <span className="chip small">min</span> : null}
                  </td>
                  <td>
                    <span className={`state state-${r.state}`}>{r.state}</span>
                  </td>
                  <td>
                    <div className="bar" title={`${r.inflight} of ${props.maxConcurrency}`}>
                      <div
                        className="bar-fill"
                        style={{ width: `${Math.min(100, share * 100)}%` }}
                      />
                    </div>
                    <span className="bar-text">
                      {r.inflight}/{props.maxConcurrency}
                    </span>
                  </td>
                  <td>
                    {r.bootedAtMs === null
                      ? "—"
                      : formatMs(Math.max(0, props.nowMs - r.bootedAtMs))}
                  </td>
                  <td>{r.callsServed}</td>
                  <td className="mono meta">
                    {Object.entries(r.meta)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(" ")}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Timeline({ view }: { view: PoolView }) {
  return (
    <div className="panel">
      <h3>Events</h3>
      {view.timeline.length === 0 ? (
        <p className="empty">No scaling events yet.</p>
      ) : (
        <ol className="timeline">
          {view.timeline.slice(0, 60).map((entry) => (
            <li key={entry.seq} className={`tl tl-${entry.kind}`}>
              <time>{new Date(entry.timeMs).toLocaleTimeString()}</time>
              <span className="tl-kind">{entry.kind}</span>
              <span className="tl-text">{entry.text}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
