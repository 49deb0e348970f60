/** `@flame-ts/pool-core/telemetry`: the event stream, OpenTelemetry wiring, the ws server. */
export * from "./telemetry/events.js";
export {
  MAX_FAILURES,
  MAX_FUNCTIONS,
  OTHER_FUNCTIONS,
  RECENT_DURATIONS,
} from "./telemetry/history.js";
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
export type { ControllablePool } from "./telemetry/server-control.js";
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
  type FunctionFigures,
  TELEMETRY_STREAM_VERSION,
  type TelemetryClientMessage,
  type TelemetryControlRequest,
  type TelemetryHistory,
  type TelemetrySample,
  type TelemetryServerMessage,
} from "./telemetry/stream-messages.js";
export { formatTraceparent, parseTraceparent } from "./telemetry/traceparent.js";
