/** `@flame-ts/pool-core/telemetry`: the event stream, OpenTelemetry wiring, the ws server. */
export * from "./telemetry/events.js";
export {
  type InstrumentPoolOptions,
  instrumentPool,
  type ObservablePool,
  type PoolInstrumentation,
} from "./telemetry/instrument.js";
export { ATTR, INSTRUMENTATION_SCOPE, METRIC, SPAN } from "./telemetry/names.js";
export {
  serveTelemetry,
  type TelemetryServer,
  type TelemetryServerOptions,
} from "./telemetry/server.js";
export {
  type CallSpan,
  type InternalSpan,
  remoteSpanNeeded,
  runWithRemoteParent,
  type SpanOutcome,
  startBootSpan,
  startCallSpan,
  startShutdownSpan,
} from "./telemetry/spans.js";
export {
  TELEMETRY_STREAM_VERSION,
  type TelemetryClientMessage,
  type TelemetryServerMessage,
} from "./telemetry/stream-messages.js";
export { formatTraceparent, parseTraceparent } from "./telemetry/traceparent.js";
