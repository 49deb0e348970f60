import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import {
  remoteSpanNeeded,
  runWithRemoteParent,
  startCallSpan,
  startShutdownSpan,
} from "../../src/telemetry/spans.js";
import { parseTraceparent } from "../../src/telemetry/traceparent.js";
import { createOtelHarness, type OtelHarness } from "./otel-harness.js";

describe("spans without an SDK", () => {
  it("carry no traceparent and still run the function", async () => {
    const span = startCallSpan("p", "thumbnail");
    expect(span.traceparent).toBeUndefined();
    span.end(true);
    // Nothing registered with the OpenTelemetry API (no SDK, no context manager): even an
    // incoming trace has nowhere to go, so the runner calls the function directly.
    expect(remoteSpanNeeded(undefined)).toBe(false);
    expect(remoteSpanNeeded(`00-${"a".repeat(32)}-${"b".repeat(16)}-01`)).toBe(false);
    // A sync function is answered synchronously (the runner answers it in the same tick).
    expect(runWithRemoteParent(undefined, "flame.run", () => 41 + 1)).toBe(42);
    expect(() =>
      runWithRemoteParent(undefined, "flame.run", () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    await expect(runWithRemoteParent(undefined, "flame.run", async () => 7)).resolves.toBe(7);
  });
});

describe("spans with an SDK", () => {
  let otel: OtelHarness | null = null;
  afterEach(async () => {
    await otel?.shutdown();
    otel = null;
  });

  it("continue the caller's trace on the runner through traceparent", async () => {
    otel = createOtelHarness();
    otel.registerGlobal();
    const tracer = trace.getTracer("app");
    let traceparent: string | undefined;
    await tracer.startActiveSpan("http.request", async (request) => {
      const call = startCallSpan("thumbs", "thumbnail");
      traceparent = call.traceparent;
      call.setRunner("thumbs-r1");
      // What the runner-agent does with the call message's traceparent:
      await runWithRemoteParent(traceparent, "flame.run", async () => {
        tracer.startSpan("user.work").end();
      });
      call.end(true);
      request.end();
    });

    const [request] = otel.spans("http.request");
    const [call] = otel.spans("flame.call");
    const [run] = otel.spans("flame.run");
    const [work] = otel.spans("user.work");
    expect(request && call && run && work).toBeTruthy();
    const traceId = request!.spanContext().traceId;
    for (const span of [call!, run!, work!]) expect(span.spanContext().traceId).toBe(traceId);
    expect(call!.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
    expect(run!.parentSpanContext?.spanId).toBe(call!.spanContext().spanId);
    expect(run!.parentSpanContext?.isRemote).toBe(true);
    expect(work!.parentSpanContext?.spanId).toBe(run!.spanContext().spanId);
    expect(call!.kind).toBe(SpanKind.CLIENT);
    expect(run!.kind).toBe(SpanKind.SERVER);
    expect(call!.attributes).toMatchObject({
      "flame.pool.name": "thumbs",
      "flame.function": "thumbnail",
      "flame.runner.id": "thumbs-r1",
    });
    expect(parseTraceparent(traceparent)?.spanId).toBe(call!.spanContext().spanId);
  });

  it("mark failed calls, runs and shutdowns as errors with error.type", async () => {
    otel = createOtelHarness();
    otel.registerGlobal();
    const call = startCallSpan("thumbs", "thumbnail");
    const failure = Object.assign(new Error("remote threw"), { code: "REMOTE_ERROR" });
    await expect(
      runWithRemoteParent(call.traceparent, "flame.run", () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    call.end(false, "REMOTE_ERROR");
    call.end(true); // a second end is ignored
    startShutdownSpan("thumbs", "thumbs-r1", "idle").end({
      ok: false,
      errorCode: "TIMEOUT",
      message: "runner did not exit within shutdownTimeout",
    });

    const [callSpan] = otel.spans("flame.call");
    const [run] = otel.spans("flame.run");
    const [shutdown] = otel.spans("flame.shutdown");
    expect(otel.spans("flame.call")).toHaveLength(1);
    expect(callSpan?.status.code).toBe(SpanStatusCode.ERROR);
    expect(callSpan?.attributes["error.type"]).toBe("REMOTE_ERROR");
    expect(run?.status).toEqual({ code: SpanStatusCode.ERROR, message: "remote threw" });
    expect(run?.events.some((e) => e.name === "exception")).toBe(true);
    expect(shutdown?.attributes).toMatchObject({
      "flame.runner.id": "thumbs-r1",
      "flame.shutdown.reason": "idle",
      "error.type": "TIMEOUT",
    });
    expect(shutdown?.parentSpanContext).toBeUndefined();
  });

  it("ignore a malformed traceparent and start a fresh trace", async () => {
    otel = createOtelHarness();
    otel.registerGlobal();
    for (const bad of [
      "",
      "garbage",
      `00-${"0".repeat(32)}-${"1".repeat(16)}-01`,
      `ff-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    expect(remoteSpanNeeded(undefined)).toBe(true);
    expect(runWithRemoteParent("00-zz-not-hex", "flame.run", () => "ok")).toBe("ok");
    const [run] = otel.spans("flame.run");
    expect(run?.parentSpanContext).toBeUndefined();
    expect(run?.ended).toBe(true);
  });
});
