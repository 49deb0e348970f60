/**
 * `@flame-ts/pool-core/telemetry`: the event stream's types, OpenTelemetry metrics and the ws
 * telemetry server. Exactly what the README documents and the dashboard imports
 * (test/wire/entry-exports.test.ts holds the list).
 */
export type {
  PoolEvent,
  PoolEventBody,
  RunnerSnapshot,
  SequencedSnapshot,
} from "./telemetry/events.js";
export {
  type InstrumentPoolOptions,
  instrumentPool,
  type ObservablePool,
  type PoolInstrumentation,
} from "./telemetry/instrument.js";
export {
  serveTelemetry,
  type TelemetryServer,
  type TelemetryServerOptions,
} from "./telemetry/server.js";
export type {
  FunctionFigures,
  TelemetryHistory,
  TelemetrySample,
  TelemetryServerMessage,
} from "./telemetry/stream-messages.js";
