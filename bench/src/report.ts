/**
 * What a bench run produces: figures, each a flame-ts measurement next to the baseline
 * measured in the same run, their ratio, and the goal for it (issue 7).
 */

export interface Goal {
  /** Which number the goal bounds: the ratio to the baseline, or the flame-ts value itself. */
  readonly on: "ratio" | "value";
  readonly op: "<=" | ">=";
  readonly target: number;
}

export interface Figure {
  readonly bench: string;
  readonly measure: string;
  readonly unit: string;
  /** flame-ts's number. */
  readonly value: number;
  readonly baselineName: string;
  readonly baseline: number;
  /** value / baseline. */
  readonly ratio: number;
  readonly goal: Goal | null;
  /** null when the figure has no goal. */
  readonly met: boolean | null;
}

export function figure(input: Omit<Figure, "ratio" | "met">): Figure {
  const ratio = input.value / input.baseline;
  return { ...input, ratio, met: input.goal ? goalMet(input.goal, input.value, ratio) : null };
}

function goalMet(goal: Goal, value: number, ratio: number): boolean {
  const subject = goal.on === "ratio" ? ratio : value;
  if (!Number.isFinite(subject)) return false;
  return goal.op === "<=" ? subject <= goal.target : subject >= goal.target;
}

/** One bench that could not run: kept in the report so a missing figure is never silent. */
export interface BenchFailure {
  readonly bench: string;
  readonly error: string;
}

export interface SuiteReport {
  readonly mode: "full" | "smoke";
  readonly startedAt: string;
  readonly durationMs: number;
  readonly machine: { readonly node: string; readonly cpus: number; readonly platform: string };
  readonly figures: readonly Figure[];
  readonly failures: readonly BenchFailure[];
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString("en-US");
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function formatGoal(goal: Goal | null, unit: string): string {
  if (!goal) return "—";
  const op = goal.op === "<=" ? "≤" : "≥";
  return goal.on === "ratio" ? `${op} ${goal.target}×` : `${op} ${goal.target} ${unit}`;
}

function formatMet(met: boolean | null): string {
  if (met === null) return "";
  return met ? "met" : "UNMET";
}

/** A plain-text table: one row per figure, then one line per failed bench. */
export function formatTable(report: SuiteReport): string {
  const header = ["bench", "measure", "flame-ts", "baseline", "ratio", "goal", ""];
  const rows = report.figures.map((f) => [
    f.bench,
    f.measure,
    `${formatNumber(f.value)} ${f.unit}`,
    `${formatNumber(f.baseline)} ${f.unit} (${f.baselineName})`,
    `${formatNumber(f.ratio)}×`,
    formatGoal(f.goal, f.unit),
    formatMet(f.met),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
  for (const failure of report.failures) out.push(`FAILED ${failure.bench}: ${failure.error}`);
  const goals = report.figures.filter((f) => f.met !== null);
  const met = goals.filter((f) => f.met).length;
  out.push(
    `${met}/${goals.length} goals met · ${report.mode} run in ${(report.durationMs / 1000).toFixed(1)} s · node ${report.machine.node}, ${report.machine.cpus} cpus`,
  );
  return out.join("\n");
}
