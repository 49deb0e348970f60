"use client";

import { functionRows } from "../lib/function-figures";
import { formatMs, type PoolView } from "../lib/pool-view";

/** The pool rules of issue 14, shown only when the pool reports them. */
export function RuleChips({ view }: { view: PoolView }) {
  const s = view.snapshot;
  const chips: Array<{ key: string; text: string; warn?: boolean }> = [];
  if (s.maxWaiting !== undefined) {
    chips.push({
      key: "maxWaiting",
      text: `maxWaiting ${s.maxWaiting === null ? "∞" : s.maxWaiting}`,
    });
  }
  if (s.buffer !== undefined && s.buffer > 0)
    chips.push({ key: "buffer", text: `buffer ${s.buffer}` });
  if (s.budget !== undefined && s.budget !== null) {
    const spent =
      s.budget.runnerMs > 0 ? Math.round((s.budget.spentMs / s.budget.runnerMs) * 100) : 0;
    chips.push({
      key: "budget",
      text: `budget ${spent}% of ${formatMs(s.budget.runnerMs)} / ${formatMs(s.budget.windowMs)}`,
      warn: s.budget.spentMs >= s.budget.runnerMs,
    });
  }
  if (s.draining === true) chips.push({ key: "draining", text: "draining", warn: true });
  if (view.overloaded > 0)
    chips.push({ key: "overloaded", text: `${view.overloaded} refused OVERLOADED`, warn: true });
  if (view.budgetBlocked > 0) {
    chips.push({
      key: "budgetBlocked",
      text: `${view.budgetBlocked} boots blocked by budget`,
      warn: true,
    });
  }
  return (
    <>
      {chips.map((chip) => (
        <span
          key={chip.key}
          className={chip.warn ? "chip warn" : "chip"}
          data-testid={`rule-${chip.key}`}
        >
          {chip.text}
        </span>
      ))}
    </>
  );
}

export function FunctionTable({ view }: { view: PoolView }) {
  const rows = functionRows(view.functions);
  return (
    <div className="panel">
      <h3>Functions</h3>
      {rows.length === 0 ? (
        <p className="empty">No calls yet.</p>
      ) : (
        <table className="functions">
          <caption className="visually-hidden">
            Calls per function; p50/p95 over each function's last 256 calls
          </caption>
          <thead>
            <tr>
              <th scope="col">Function</th>
              <th scope="col">Calls</th>
              <th scope="col">Errors</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.fn} data-testid="function-row" data-fn={row.fn}>
                <th scope="row" className="mono">
                  {row.fn}
                </th>
                <td data-testid="function-calls">{row.calls}</td>
                <td data-testid="function-errors">
                  {row.errors.length === 0
                    ? "—"
                    : row.errors.map(([code, count]) => (
                        <span key={code} className="chip small warn">
                          {code} ×{count}
                        </span>
                      ))}
                </td>
                <td>{row.p50Ms === null ? "—" : formatMs(row.p50Ms)}</td>
                <td>{row.p95Ms === null ? "—" : formatMs(row.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function FailureList({ view }: { view: PoolView }) {
  return (
    <div className="panel">
      <h3>Last failures</h3>
      {view.failures.length === 0 ? (
        <p className="empty">No failed calls.</p>
      ) : (
        <ol className="timeline failures">
          {view.failures.map((f) => (
            <li key={f.seq} className="tl tl-crash" data-testid="failure">
              <time dateTime={new Date(f.timeMs).toISOString()}>
                {new Date(f.timeMs).toLocaleTimeString()}
              </time>
              <span className="tl-kind">{f.code}</span>
              <span className="tl-text">
                <span className="mono">{f.fn}</span>
                {f.runnerId === null ? " (no runner)" : ` on ${f.runnerId}`}
                {f.message === "" ? "" : `: ${f.message}`}
              </span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
