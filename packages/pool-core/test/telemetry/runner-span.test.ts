/** The runner's `flame.run` span continues the caller's trace across the process boundary. */
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { LocalBackend, Pool } from "../../src/index.js";
import { whoami } from "./fixtures/traced-functions.mjs";
import { otelTestScope } from "./otel-harness.js";

const entry = new URL("./fixtures/traced-functions.mjs", import.meta.url);

describe("runner-side span", () => {
  const scope = otelTestScope();

  it("runs the function inside a recording flame.run span whose parent is the caller's flame.call", async () => {
    const otel = scope.harness({ registerGlobal: true });
    const pool = scope.track(
      new Pool({ name: "traced", max: 1, backend: new LocalBackend({ entry }) }),
    );
    const app = trace.getTracer("app");

    const { seen, requestTraceId } = await app.startActiveSpan("request", async (request) => {
      const result = await pool.call(whoami, null);
      request.end();
      return { seen: result, requestTraceId: request.spanContext().traceId };
    });

    const call = otel
      .spans("flame.call")
      .find((s) => s.attributes["flame.function"] === "telemetry.whoami");
    expect(seen.name).toBe("flame.run");
    expect(seen.recording).toBe(true);
    expect(seen.traceId).toBe(requestTraceId);
    expect(seen.parentSpanId).toBe(call?.spanContext().spanId);
  });

  it("records flame.shutdown for a runner the pool shuts down, and marks its runnerDown expected", async () => {
    const otel = scope.harness({ registerGlobal: true });
    const pool = scope.track(
      new Pool({ name: "drained", max: 1, backend: new LocalBackend({ entry }) }),
    );
    const downs: Array<{ expected: boolean | undefined }> = [];
    pool.events.subscribe((e) => {
      if (e.type === "runnerDown") downs.push({ expected: e.expected });
    });
    await pool.call(whoami, null);
    await pool.stop();

    const [shutdown] = otel.spans("flame.shutdown");
    expect(shutdown?.attributes["flame.shutdown.reason"]).toBe("stop");
    expect(shutdown?.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(shutdown?.ended).toBe(true);
    expect(downs).toEqual([{ expected: true }]);
  });
});
