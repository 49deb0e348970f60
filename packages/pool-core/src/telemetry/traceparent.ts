/**
 * W3C Trace Context `traceparent` header, the one field a call message carries to the runner
 * (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`). Written by hand so the wire format
 * never depends on which propagator the app registered.
 */
import type { SpanContext } from "@opentelemetry/api";
import { otel } from "./otel-api.js";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function formatTraceparent(context: SpanContext): string | undefined {
  if (!otel().isSpanContextValid(context)) return undefined;
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}

/** The remote span context in `header`, or undefined when it is absent or malformed. */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  if (header === undefined) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags] = match;
  // Version ff is forbidden by the spec; unknown future versions keep the same prefix.
  if (version === "ff" || traceId === undefined || spanId === undefined || flags === undefined) {
    return undefined;
  }
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16),
    isRemote: true,
  };
  return otel().isSpanContextValid(context) ? context : undefined;
}
