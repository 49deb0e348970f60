/** In-memory OpenTelemetry SDK for telemetry tests: spans and metrics we can read back. */
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach } from "vitest";

export interface OtelHarness {
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  spans(name?: string): ReadableSpan[];
  /** Collects now and returns the latest data of `name` (cumulative). */
  metric(name: string): Promise<MetricData | undefined>;
  /** Registers the providers globally (for code that uses the global API). */
  registerGlobal(): void;
  shutdown(): Promise<void>;
}

export function createOtelHarness(): OtelHarness {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  let contextManager: AsyncLocalStorageContextManager | null = null;
  return {
    tracerProvider,
    meterProvider,
    spans: (name) =>
      spanExporter.getFinishedSpans().filter((s) => name === undefined || s.name === name),
    async metric(name) {
      metricExporter.reset();
      await reader.forceFlush();
      const all = metricExporter
        .getMetrics()
        .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
      return all.filter((m) => m.descriptor.name === name).at(-1);
    },
    registerGlobal() {
      contextManager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(contextManager);
      trace.setGlobalTracerProvider(tracerProvider);
      metrics.setGlobalMeterProvider(meterProvider);
    },
    async shutdown() {
      trace.disable();
      metrics.disable();
      context.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/**
 * A fresh harness and the pool under test for each test of the calling `describe`, torn down
 * after each test: the pool first, so its last spans and metrics reach the harness.
 */
export function otelTestScope(): {
  /** This test's harness; `registerGlobal` also installs it as the process's SDK. */
  harness(options?: { registerGlobal?: boolean }): OtelHarness;
  /** Stops `pool` after the test; returns it. */
  track<P extends { stop(): Promise<void> }>(pool: P): P;
} {
  let otel: OtelHarness | null = null;
  let pool: { stop(): Promise<void> } | null = null;
  afterEach(async () => {
    await pool?.stop();
    pool = null;
    await otel?.shutdown();
    otel = null;
  });
  return {
    harness(options = {}) {
      otel = createOtelHarness();
      if (options.registerGlobal === true) otel.registerGlobal();
      return otel;
    },
    track(tracked) {
      pool = tracked;
      return tracked;
    },
  };
}

/** The value of the data point whose attributes include `attrs` (sum/gauge points). */
export function pointValue(
  data: MetricData | undefined,
  attrs: Record<string, string | number | boolean>,
): number | undefined {
  const point = findPoint(data, attrs);
  return point === undefined ? undefined : (point.value as number);
}

export function histogramPoint(
  data: MetricData | undefined,
  attrs: Record<string, string | number | boolean>,
): Histogram | undefined {
  return findPoint(data, attrs)?.value as Histogram | undefined;
}

function findPoint(
  data: MetricData | undefined,
  attrs: Record<string, string | number | boolean>,
): DataPoint<unknown> | undefined {
  if (data === undefined) return undefined;
  const points = data.dataPoints as DataPoint<unknown>[];
  return points.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));
}
