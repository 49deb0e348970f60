"use client";

import type { RunnerSnapshot } from "@flame-ts/pool-core/telemetry";
import { useState } from "react";
import {
  formatMs,
  type PoolView,
  poolLoad,
  slotsNote,
  slotsText,
  trackedText,
} from "../lib/pool-view";
import {
  type Act,
  type ActionOutcome,
  type ActionRequest,
  ConfirmDialog,
  describeAction,
  ResizeForm,
} from "./Actions";
import { Chart } from "./Chart";
import { FailureList, FunctionTable, RuleChips } from "./PoolFigures";

interface PoolPanelProps {
  readonly view: PoolView;
  readonly windowSeconds: number;
  readonly nowMs: number;
  /** Sends an action; null when the endpoint does not take actions. */
  readonly act: Act | null;
}

const COLORS = {
  runners: "#2563eb",
  booting: "#f59e0b",
  slots: "#7c3aed",
  queued: "#a78bfa",
  waiting: "#dc2626",
  calls: "#059669",
  p50: "#0891b2",
  p95: "#db2777",
  boot: "#ea580c",
};

export function PoolPanel({ view, windowSeconds, nowMs, act }: PoolPanelProps) {
  const s = view.snapshot;
  const [asking, setAsking] = useState<ActionRequest | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<ActionOutcome | null>(null);
  const confirm = async () => {
    if (asking === null || act === null) return;
    setBusy(true);
    const result = await act(asking);
    setBusy(false);
    setAsking(null);
    setOutcome(result);
  };
  const ask = act === null ? null : (request: ActionRequest) => setAsking(request);
  const load = poolLoad(s);
  const samples = view.samples;
  return (
    <section
      className="pool"
      data-pool={s.name}
      data-samples={samples.t.length}
      aria-labelledby={`pool-${s.name}`}
    >
      <header className="pool-header">
        <h2 id={`pool-${s.name}`}>{s.name}</h2>
        <div className="limits">
          <span className="chip" data-testid="limit-min">
            min {s.min}
          </span>
          <span className="chip" data-testid="limit-max">
            max {s.max}
          </span>
          <span className="chip">maxConcurrency {s.maxConcurrency}</span>
          <RuleChips view={view} />
          {view.gaps > 0 ? <span className="chip muted">resynced {view.gaps}×</span> : null}
        </div>
        {ask === null ? (
          <span className="muted small-note">
            Actions off: start serveTelemetry with <code>control: true</code> and a token.
          </span>
        ) : (
          <ResizeForm
            key={`${s.min}-${s.max}`}
            pool={s.name}
            min={s.min}
            max={s.max}
            onRequest={ask}
          />
        )}
      </header>
      {outcome === null ? null : (
        <p
          className={outcome.ok ? "notice ok" : "notice refused"}
          role={outcome.ok ? "status" : "alert"}
          data-testid="action-result"
          data-ok={outcome.ok}
        >
          {outcome.ok ? "Done: " : "Refused: "}
          {outcome.detail}
          <button
            type="button"
            className="link"
            onClick={() => setOutcome(null)}
            aria-label="Dismiss"
          >
            ×
          </button>
        </p>
      )}
      {asking === null ? null : (
        <ConfirmDialog
          {...describeAction(asking, s.name)}
          busy={busy}
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(null)}
        />
      )}

      <div className="stats">
        <Stat
          label="Runners"
          testId="runner-count"
          pool={s.name}
          value={String(load.ready)}
          note={`of max ${s.max}`}
        />
        <Stat label="Booting" testId="pending-boots" pool={s.name} value={String(s.pendingBoots)} />
        <Stat
          label="Slots in use"
          testId="slots-used"
          pool={s.name}
          value={String(load.running)}
          note={slotsNote(load)}
        />
        <Stat label="Waiting callers" testId="waiting" pool={s.name} value={String(s.waiting)} />
        <Stat
          label="Calls"
          testId="calls-total"
          pool={s.name}
          value={String(view.totalCalls)}
          note={view.failedCalls > 0 ? `${view.failedCalls} failed` : "since telemetry began"}
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
          testId="chart-slots"
          series={[
            { label: "running", color: COLORS.slots, values: samples.slotsUsed },
            { label: "queued on runners", color: COLORS.queued, values: samples.queued },
          ]}
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
        <RunnerTable
          runners={s.runners}
          maxConcurrency={s.maxConcurrency}
          nowMs={nowMs}
          ask={ask}
        />
        <Timeline view={view} />
      </div>
      <div className="lower">
        <FunctionTable view={view} />
        <FailureList view={view} />
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
      {props.note === undefined ? null : (
        <div className="stat-note" data-testid={`${props.testId}-note`} data-pool={props.pool}>
          {props.note}
        </div>
      )}
    </div>
  );
}

function RunnerTable(props: {
  runners: readonly RunnerSnapshot[];
  maxConcurrency: number;
  nowMs: number;
  ask: ((request: ActionRequest) => void) | null;
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
              <th title="Calls running of maxConcurrency, and calls the runner holds queued to start as a slot frees (prefetch)">
                Slots
              </th>
              <th title="Calls whose tracked resources the runner keeps (one slot each), and calls pinned to them">
                Tracked
              </th>
              <th>Uptime</th>
              <th>Calls</th>
              <th>Backend</th>
              {props.ask === null ? null : <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {runners.map((r) => {
              const share = props.maxConcurrency > 0 ? r.inflight / props.maxConcurrency : 0;
              return (
                <tr key={r.id} data-testid="runner-row" data-runner={r.id}>
                  <td className="mono">
                    {r.id}
                    {r.isMin ? <span className="chip small">min</span> : null}
                  </td>
                  <td>
                    <span className={`state state-${r.state}`}>{r.state}</span>
                  </td>
                  <td>
                    <div
                      className="bar"
                      title={`${r.inflight} of ${props.maxConcurrency} running${(r.queued ?? 0) > 0 ? `, ${r.queued} queued` : ""}`}
                    >
                      <div
                        className="bar-fill"
                        style={{ width: `${Math.min(100, share * 100)}%` }}
                      />
                    </div>
                    <span className="bar-text" data-testid="runner-slots">
                      {slotsText(r, props.maxConcurrency)}
                    </span>
                  </td>
                  <td data-testid="runner-tracked">{trackedText(r)}</td>
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
                  {props.ask === null ? null : (
                    <td className="row-actions">
                      <button
                        type="button"
                        disabled={r.state !== "ready"}
                        aria-label={`Drain runner ${r.id}`}
                        onClick={() => props.ask?.({ action: "drainRunner", runnerId: r.id })}
                      >
                        Drain
                      </button>
                      <button
                        type="button"
                        className="danger"
                        disabled={r.state === "booting"}
                        aria-label={`Kill runner ${r.id}`}
                        onClick={() => props.ask?.({ action: "killRunner", runnerId: r.id })}
                      >
                        Kill
                      </button>
                    </td>
                  )}
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
        <p className="empty">No events in the server's history yet.</p>
      ) : (
        <ol className="timeline">
          {view.timeline.slice(0, 60).map((entry) => (
            <li key={entry.seq} className={`tl tl-${entry.kind}`} data-testid="timeline-entry">
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
