"use client";

import { useEffect, useRef } from "react";
import type uPlot from "uplot";

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: ReadonlyArray<number | null>;
  /** Draw points only (sparse series such as boot times). */
  readonly points?: boolean;
}

interface ChartProps {
  readonly title: string;
  /** "ms" formats the y axis as durations. */
  readonly unit?: "ms";
  /** x values, seconds since the epoch. */
  readonly t: readonly number[];
  readonly series: readonly ChartSeries[];
  readonly windowSeconds: number;
  readonly testId?: string;
}

const HEIGHT_PX = 150;

/** A live uPlot line chart; uPlot is loaded in the browser only. */
export function Chart({ title, unit, t, series, windowSeconds, testId }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef({ t, series, windowSeconds });
  latest.current = { t, series, windowSeconds };
  const seriesKey = series.map((s) => s.label).join("|");

  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when the set of series changes; data flows through setData below.
  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void import("uplot").then(({ default: UPlot }) => {
      const el = host.current;
      if (disposed || el === null) return;
      const { series: initial } = latest.current;
      plot.current = new UPlot(
        {
          width: el.clientWidth,
          height: HEIGHT_PX,
          legend: { show: true, live: false },
          cursor: { drag: { x: false, y: false } },
          scales: {
            x: { time: true },
            y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
          },
          axes: [
            { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e5e7eb" } },
            {
              stroke: "#6b7280",
              grid: { stroke: "#eef0f3" },
              ticks: { stroke: "#e5e7eb" },
              size: 56,
              ...(unit === "ms" ? { values: (_u, ticks) => ticks.map(formatMsTick) } : {}),
            },
          ],
          series: [
            {},
            ...initial.map(
              (s): uPlot.Series =>
                s.points
                  ? {
                      label: s.label,
                      stroke: s.color,
                      points: { show: true, size: 7, fill: s.color },
                      paths: () => null,
                    }
                  : {
                      label: s.label,
                      stroke: s.color,
                      width: 2,
                      fill: `${s.color}1a`,
                      spanGaps: true,
                      points: { show: false },
                    },
            ),
          ],
        },
        toData(latest.current),
        el,
      );
      observer = new ResizeObserver(() => {
        plot.current?.setSize({ width: el.clientWidth, height: HEIGHT_PX });
      });
      observer.observe(el);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [seriesKey, unit]);

  useEffect(() => {
    plot.current?.setData(toData({ t, series, windowSeconds }));
  });

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={host} className="chart-plot" />
    </figure>
  );
}

function formatMsTick(ms: number): string {
  return ms >= 1_000 ? `${+(ms / 1_000).toFixed(1)}s` : `${+ms.toFixed(1)}ms`;
}

function toData({
  t,
  series,
  windowSeconds,
}: {
  t: readonly number[];
  series: readonly ChartSeries[];
  windowSeconds: number;
}): uPlot.AlignedData {
  const last = t.at(-1) ?? 0;
  let from = 0;
  while (from < t.length && (t[from] ?? 0) < last - windowSeconds) from += 1;
  return [t.slice(from), ...series.map((s) => s.values.slice(from))] as uPlot.AlignedData;
}
