import { describe, expect, it } from "vitest";
import { LocalBackend, Pool } from "../../src/index.js";
import { PoolEventStream, type PoolSnapshot } from "../../src/telemetry/events.js";
import { instrumentPool } from "../../src/telemetry.js";
import { double, fail, hold } from "./fixtures/functions.mjs";
import { histogramPoint, otelTestScope, pointValue } from "./otel-harness.js";

const entry = new URL("./fixtures/functions.mjs", import.meta.url);

function handDrivenStream(name: string, snapshot: () => PoolSnapshot) {
  // Epoch ms, as the host reports them (the SDK reads small numbers as performance.now() time).
  let nowMs = Date.now();
  const stream = new PoolEventStream({ pool: name, snapshot, nowMs: () => nowMs });
  return {
    pool: { name, events: stream },
    stream,
    advance(ms: number) {
      nowMs += ms;
    },
  };
}

const emptySnapshot = (name: string): PoolSnapshot => ({
  name,
  maxWaiting: null,
  buffer: 0,
  budget: null,
  draining: false,
  min: 0,
  max: 3,
  maxConcurrency: 2,
  waiting: 0,
  pendingBoots: 0,
  runners: [],
});

describe("instrumentPool", () => {
  const scope = otelTestScope();

  it("records runners, slots, call durations, boot time and boot spans of a real pool", async () => {
    const otel = scope.harness();
    const pool = scope.track(
      new Pool({
        name: "metrics",
        min: 0,
        max: 2,
        maxConcurrency: 2,
        backend: new LocalBackend({ entry }),
      }),
    );
    using _instrumentation = instrumentPool(pool, {
      meterProvider: otel.meterProvider,
      tracerProvider: otel.tracerProvider,
    });

    // Two calls hold both slots of the first runner while we read the gauges.
    const holding = new AbortController();
    const running = [1, 2].map(() =>
      pool.call(hold, { ms: 60_000 }, { signal: holding.signal }).catch((e: unknown) => e),
    );
    const results = await Promise.all([1, 2, 3].map((n) => pool.call(double, n)));
    expect(results).toEqual([2, 4, 6]);
    await expect(pool.call(fail, null)).rejects.toMatchObject({ code: "REMOTE_ERROR" });

    const runners = await otel.metric("flame.pool.runner.count");
    const ready = pointValue(runners, {
      "flame.pool.name": "metrics",
      "flame.pool.runner.state": "ready",
    });
    expect(ready).toBeGreaterThanOrEqual(1);
    const slots = await otel.metric("flame.pool.slot.count");
    expect(pointValue(slots, { "flame.pool.slot.state": "used" })).toBe(2);
    expect(pointValue(await otel.metric("flame.pool.runner.max"), {})).toBe(2);
    expect(pointValue(await otel.metric("flame.pool.pending_requests"), {})).toBe(0);

    const useTime = await otel.metric("flame.pool.use_time");
    expect(useTime?.descriptor.unit).toBe("s");
    expect(histogramPoint(useTime, { "flame.function": "telemetry.double" })?.count).toBe(3);
    const failed = histogramPoint(useTime, {
      "flame.function": "telemetry.fail",
      "error.type": "REMOTE_ERROR",
    });
    expect(failed?.count).toBe(1);

    const createTime = histogramPoint(await otel.metric("flame.pool.create_time"), {
      "flame.pool.name": "metrics",
    });
    expect(createTime?.count).toBeGreaterThanOrEqual(1);
    expect(createTime?.sum).toBeGreaterThan(0);

    const boots = otel.spans("flame.boot");
    expect(boots.length).toBeGreaterThanOrEqual(1);
    expect(boots[0]?.attributes["flame.runner.id"]).toMatch(/^metrics-/);

    holding.abort();
    for (const outcome of await Promise.all(running))
      expect(outcome).toMatchObject({ code: "ABORTED" });
    await pool.stop();
    const after = await otel.metric("flame.pool.runner.count");
    expect(pointValue(after, { "flame.pool.runner.state": "ready" })).toBe(0);
  });

  it("counts wait times, timeouts and failed boots (hand-driven stream)", async () => {
    const otel = scope.harness();
    const { pool: fake, stream, advance } = handDrivenStream("fake", () => emptySnapshot("fake"));
    const instrumentation = instrumentPool(fake, {
      meterProvider: otel.meterProvider,
      tracerProvider: otel.tracerProvider,
    });
    stream.emit({ type: "growStart", bootId: "b1", count: 1, isMin: false });
    advance(250);
    stream.emit({ type: "bootFailed", bootId: "b1", error: "image not found", bootMs: 250 });
    stream.emit({
      type: "growEnd",
      bootId: "b1",
      count: 0,
      ok: false,
      error: "image not found",
      bootMs: 250,
    });
    stream.emit({ type: "checkoutWaited", checkoutId: "1", runnerId: "r1", waitedMs: 1_500 });
    stream.emit({ type: "checkoutTimeout", checkoutId: "2", waitedMs: 5_000 });
    stream.emit({ type: "checkoutTimeout", checkoutId: "3", waitedMs: 5_000 });

    expect(
      pointValue(await otel.metric("flame.pool.timeouts"), { "flame.pool.name": "fake" }),
    ).toBe(2);
    expect(pointValue(await otel.metric("flame.pool.boot.failures"), {})).toBe(1);
    const wait = histogramPoint(await otel.metric("flame.pool.wait_time"), {});
    expect(wait?.count).toBe(1);
    expect(wait?.sum).toBeCloseTo(1.5);

    const [boot] = otel.spans("flame.boot");
    expect(otel.spans("flame.boot")).toHaveLength(1);
    expect(boot?.status.message).toBe("image not found");
    expect(boot?.attributes["error.type"]).toBe("BOOT_FAILED");
    // Start and end come from the events' clock: 250 ms apart.
    const durationMs = boot!.duration[0] * 1_000 + boot!.duration[1] / 1e6;
    expect(durationMs).toBeCloseTo(250, 0);

    instrumentation.close();
    stream.emit({ type: "checkoutTimeout", checkoutId: "4", waitedMs: 5_000 });
    expect(pointValue(await otel.metric("flame.pool.timeouts"), {})).toBe(2);
  });

  it("ends boots still open when closed, and observes nothing after", async () => {
    const otel = scope.harness();
    const { pool: fake, stream } = handDrivenStream("open", () => ({
      ...emptySnapshot("open"),
      runners: [
        {
          id: "r1",
          state: "booting",
          inflight: 0,
          queued: 0,
          isMin: false,
          bootedAtMs: null,
          callsServed: 0,
          meta: {},
          tracked: 0,
          pinned: 0,
        },
      ],
    }));
    const instrumentation = instrumentPool(fake, {
      meterProvider: otel.meterProvider,
      tracerProvider: otel.tracerProvider,
    });
    stream.emit({ type: "growStart", bootId: "b9", count: 1, isMin: true });
    expect(
      pointValue(await otel.metric("flame.pool.runner.count"), {
        "flame.pool.runner.state": "booting",
      }),
    ).toBe(1);
    instrumentation.close();
    expect(otel.spans("flame.boot")[0]?.attributes["error.type"]).toBe("ABORTED");
  });
});
