/**
 * `instrumentPool`: OpenTelemetry metrics and boot spans for one pool, driven only by its
 * public event stream (`pool.events`) and snapshot, so it works for any pool and costs
 * nothing until called. Gauges are read from the snapshot when the SDK collects.
 */
import type {
  Attributes,
  BatchObservableResult,
  MeterProvider,
  TracerProvider,
} from "@opentelemetry/api";
import type { PoolEvent, PoolEvents } from "./events.js";
import { ATTR, INSTRUMENTATION_SCOPE, METRIC, SECONDS_BUCKETS } from "./names.js";
import { otel } from "./otel-api.js";
import { bindPoolTracer, type InternalSpan, startBootSpan } from "./spans.js";

/** What instrumentation and the telemetry server need from a pool (a `Pool` fits). */
export interface ObservablePool {
  readonly name: string;
  readonly events: PoolEvents;
}

export interface InstrumentPoolOptions {
  /** Defaults to the global meter provider (`metrics.setGlobalMeterProvider`). */
  readonly meterProvider?: MeterProvider;
  /** Defaults to the global tracer provider. Also used for this pool's `flame.call` spans. */
  readonly tracerProvider?: TracerProvider;
}

export interface PoolInstrumentation {
  /** Stops recording: unsubscribes, removes the gauge callback, ends open boot spans. */
  close(): void;
  [Symbol.dispose](): void;
}

const RUNNER_STATES = ["booting", "ready", "draining"] as const;

export function instrumentPool(
  pool: ObservablePool,
  options: InstrumentPoolOptions = {},
): PoolInstrumentation {
  const { metrics, ValueType } = otel();
  const meter = (options.meterProvider ?? metrics).getMeter(INSTRUMENTATION_SCOPE);
  const unbindTracer =
    options.tracerProvider === undefined
      ? () => {}
      : bindPoolTracer(pool.name, options.tracerProvider.getTracer(INSTRUMENTATION_SCOPE));
  const poolAttrs: Attributes = { [ATTR.pool]: pool.name };
  const int = { valueType: ValueType.INT };

  const runnerCount = meter.createObservableUpDownCounter(METRIC.runnerCount, {
    ...int,
    unit: "{runner}",
    description: "Runners of the pool by state (booting, ready, draining).",
  });
  const runnerMin = meter.createObservableUpDownCounter(METRIC.runnerMin, {
    ...int,
    unit: "{runner}",
    description: "The pool's min runners.",
  });
  const runnerMax = meter.createObservableUpDownCounter(METRIC.runnerMax, {
    ...int,
    unit: "{runner}",
    description: "The pool's max runners.",
  });
  const slotCount = meter.createObservableUpDownCounter(METRIC.slotCount, {
    ...int,
    unit: "{slot}",
    description: "Call slots on ready runners, by state (used, free).",
  });
  const slotMax = meter.createObservableUpDownCounter(METRIC.slotMax, {
    ...int,
    unit: "{slot}",
    description: "Slots per runner (maxConcurrency).",
  });
  const pending = meter.createObservableUpDownCounter(METRIC.pendingRequests, {
    ...int,
    unit: "{request}",
    description: "Callers waiting for a slot.",
  });
  const waitTime = meter.createHistogram(METRIC.waitTime, {
    unit: "s",
    description: "Time a caller waited for a slot.",
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const createTime = meter.createHistogram(METRIC.createTime, {
    unit: "s",
    description: "Time to boot a runner (backend start until the runner's hello).",
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const useTime = meter.createHistogram(METRIC.useTime, {
    unit: "s",
    description: "Time a call, cast or child held its slot on a runner.",
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const timeouts = meter.createCounter(METRIC.timeouts, {
    ...int,
    unit: "{timeout}",
    description: "Callers that gave up waiting for a slot.",
  });
  const bootFailures = meter.createCounter(METRIC.bootFailures, {
    ...int,
    unit: "{boot}",
    description: "Runner boots that failed.",
  });

  const observables = [runnerCount, runnerMin, runnerMax, slotCount, slotMax, pending];
  const observe = (result: BatchObservableResult) => {
    const snap = pool.events.snapshot();
    const byState = { booting: 0, ready: 0, draining: 0 };
    let used = 0;
    let capacity = 0;
    for (const runner of snap.runners) {
      byState[runner.state] += 1;
      if (runner.state === "ready") {
        used += runner.inflight;
        capacity += snap.maxConcurrency;
      }
    }
    for (const state of RUNNER_STATES) {
      result.observe(runnerCount, byState[state], { ...poolAttrs, [ATTR.runnerState]: state });
    }
    result.observe(runnerMin, snap.min, poolAttrs);
    result.observe(runnerMax, snap.max, poolAttrs);
    result.observe(slotCount, used, { ...poolAttrs, [ATTR.slotState]: "used" });
    result.observe(slotCount, Math.max(0, capacity - used), {
      ...poolAttrs,
      [ATTR.slotState]: "free",
    });
    result.observe(slotMax, snap.maxConcurrency, poolAttrs);
    result.observe(pending, snap.waiting, poolAttrs);
  };
  meter.addBatchObservableCallback(observe, observables);

  const bootSpans = new Map<string, InternalSpan>();
  const endBoot = (bootId: string, event: PoolEvent, ok: boolean, message?: string) => {
    const span = bootSpans.get(bootId);
    if (span === undefined) return;
    bootSpans.delete(bootId);
    span.end({
      ok,
      endTime: event.timeMs,
      ...(ok ? {} : { errorCode: "BOOT_FAILED" }),
      ...(message === undefined ? {} : { message }),
    });
  };

  const onEvent = (event: PoolEvent) => {
    switch (event.type) {
      case "growStart":
        bootSpans.set(
          event.bootId,
          startBootSpan(pool.name, event.bootId, event.isMin, event.timeMs),
        );
        return;
      case "runnerUp":
        createTime.record(event.bootMs / 1000, poolAttrs);
        return;
      case "growEnd":
        if (event.ok && event.runnerId !== undefined) {
          bootSpans.get(event.bootId)?.setAttribute(ATTR.runnerId, event.runnerId);
        }
        endBoot(event.bootId, event, event.ok, event.error);
        return;
      case "bootFailed":
        bootFailures.add(1, poolAttrs);
        endBoot(event.bootId, event, false, event.error);
        return;
      case "checkoutWaited":
        waitTime.record(event.waitedMs / 1000, poolAttrs);
        return;
      case "checkoutTimeout":
        timeouts.add(1, poolAttrs);
        return;
      case "callFinished":
        useTime.record(event.durationMs / 1000, {
          ...poolAttrs,
          [ATTR.fn]: event.fn,
          [ATTR.callKind]: event.kind,
          ...(event.ok ? {} : { [ATTR.errorType]: event.errorCode ?? "_OTHER" }),
        });
        return;
      default:
        return;
    }
  };
  const unsubscribe = pool.events.subscribe(onEvent);

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    meter.removeBatchObservableCallback(observe, observables);
    for (const span of bootSpans.values()) {
      span.end({ ok: false, errorCode: "ABORTED", message: "instrumentation closed" });
    }
    bootSpans.clear();
    unbindTracer();
  };
  return { close, [Symbol.dispose]: close };
}
