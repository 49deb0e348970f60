/** `flame.call` spans from a real pool on LocalBackend, with the trace carried to the runner. */
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { LocalBackend, Pool } from "../../src/index.js";
import { instrumentPool } from "../../src/telemetry.js";
import { double, fail, hold } from "./fixtures/functions.mjs";
import { otelTestScope } from "./otel-harness.js";

const entry = new URL("./fixtures/functions.mjs", import.meta.url);

describe("flame.call spans on a real pool", () => {
  const scope = otelTestScope();

  it("wrap each call in the caller's trace, name the runner, and record failures", async () => {
    const otel = scope.harness({ registerGlobal: true });
    const pool = scope.track(
      new Pool({
        name: "spans",
        min: 0,
        max: 1,
        maxConcurrency: 1,
        // The second call must wait in the pool (its span then names no runner).
        prefetch: false,
        backend: new LocalBackend({ entry }),
      }),
    );
    using _instrumentation = instrumentPool(pool, { tracerProvider: otel.tracerProvider });
    const app = trace.getTracer("app");

    await app.startActiveSpan("request", async (request) => {
      expect(await pool.call(double, 4)).toBe(8);
      await expect(pool.call(fail, null)).rejects.toMatchObject({ code: "REMOTE_ERROR" });
      request.end();
    });
    // The only slot is busy: the next caller times out waiting, and its span says so.
    const holding = pool.call(hold, { ms: 10_000 }, { timeout: 20_000 });
    await expect(pool.call(double, 1, { timeout: 300 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await pool.stop();
    await holding.catch(() => {});

    const [request] = otel.spans("request");
    const calls = otel.spans("flame.call");
    const ok = calls.find(
      (s) =>
        s.attributes["flame.function"] === "telemetry.double" &&
        s.status.code !== SpanStatusCode.ERROR,
    );
    const failed = calls.find((s) => s.attributes["flame.function"] === "telemetry.fail");
    const timedOut = calls.find((s) => s.attributes["error.type"] === "TIMEOUT");
    expect(ok?.kind).toBe(SpanKind.CLIENT);
    expect(ok?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(ok?.attributes["flame.runner.id"]).toMatch(/^spans-/);
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.attributes["error.type"]).toBe("REMOTE_ERROR");
    expect(timedOut?.attributes["flame.runner.id"]).toBeUndefined();
    expect(otel.spans("flame.boot")).toHaveLength(1);
  });
});
