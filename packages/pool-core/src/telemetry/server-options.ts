/** `serveTelemetry(options)`: every option, its default, and its validation. */
import { invalidOption } from "../errors.js";
import type { LogFn } from "../options/index.js";
import type { ControllablePool } from "./server-control.js";

export interface TelemetryServerOptions {
  /** The pools to stream (each `Pool` fits); names must be unique. */
  readonly pools: readonly ControllablePool[];
  /** Interface to listen on. Default "127.0.0.1" (local only). */
  readonly host?: string;
  /** Default 0: any free port (read it from the result). */
  readonly port?: number;
  /**
   * When set, clients must send it as `Authorization: Bearer <token>` (or `?token=`).
   * Strongly encouraged: binding beyond loopback without one logs a warning, and without one
   * failure messages are withheld (`errorMessages`).
   */
  readonly token?: string;
  /**
   * Send the text of failures: a failed call's `errorMessage`, a boot's `error`, a runner's exit
   * `reason` (and the `shrink` that follows it). That text is whatever a function threw, a
   * backend answered or a runner last printed on stderr, so it can carry secrets
   * (`password=…` in a connection error). Default: true with a `token` (every client proved
   * it holds it), false without one: then each such text is replaced by "(withheld: …)" while
   * codes, counts, durations and exit codes still go out, so the dashboard keeps working.
   * `true` without a token is an explicit opt-in: every local user (and, beyond loopback,
   * anyone who can reach the port) reads those messages.
   */
  readonly errorMessages?: boolean;
  /**
   * Browser origins allowed to connect (e.g. `["https://ops.example.com"]`). A request that
   * carries an `Origin` header not in this list is refused with 403 at the upgrade, so a web
   * page a user happens to visit cannot read the stream. Non-browser clients send no Origin.
   * Default `[]` (no browser at all; the dashboard connects from its server).
   */
  readonly allowedOrigins?: readonly string[];
  /** Clients connected at once; one more is refused with 503. Default 64. */
  readonly maxClients?: number;
  /**
   * Take operator actions (`drainRunner`, `killRunner`, `resize`) from clients. Opt-in, and
   * only with a `token`. Each action is recorded as a `control` event. Default false.
   */
  readonly control?: boolean;
  /**
   * Where warnings go (e.g. no token while bound beyond loopback). Default: `console.error`
   * with a `[flame-ts telemetry]` prefix; `false` = silent.
   */
  readonly log?: false | LogFn;
  /** A client whose unsent data passes this is disconnected. Default 4 MiB. */
  readonly maxBufferedBytes?: number;
  /** How often every client gets fresh snapshots (live gauges). Default 1,000 ms; 0 = never. */
  readonly snapshotIntervalMs?: number;
  /** Ping period; a client that misses a pong for one period is dropped. Default 10,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /**
   * How far back the history replayed to a client that connects late reaches (samples and
   * notable events). Default 900,000 ms (15 minutes); 0 = keep no history.
   */
  readonly historyMs?: number;
  /** Period of the chart samples kept in history and streamed live. Default 1,000 ms. */
  readonly samplePeriodMs?: number;
  /** Notable events (scaling, crashes, actions) kept in history per pool. Default 1,000. */
  readonly maxHistoryEvents?: number;
  /** Least time between two `resync` requests of one client; extra ones are ignored. Default 1,000 ms. */
  readonly resyncIntervalMs?: number;
}

export interface ValidTelemetryOptions {
  readonly pools: readonly ControllablePool[];
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly errorMessages: boolean;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly maxClients: number;
  readonly control: boolean;
  readonly log: LogFn;
  readonly maxBufferedBytes: number;
  readonly snapshotIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  readonly historyMs: number;
  readonly samplePeriodMs: number;
  readonly maxHistoryEvents: number;
  readonly resyncIntervalMs: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const consoleLog: LogFn = (level, message) =>
  console.error(`[flame-ts telemetry] ${level}: ${message}`);

export function validateTelemetryOptions(options: TelemetryServerOptions): ValidTelemetryOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("serveTelemetry options", "an object { pools }", options);
  }
  const { pools } = options;
  if (!Array.isArray(pools) || pools.length === 0) {
    throw invalidOption("pools", "a non-empty array of pools", pools);
  }
  const names = new Set<string>();
  for (const [i, pool] of pools.entries()) {
    const p = pool as Partial<ControllablePool> | null;
    if (typeof p?.name !== "string" || typeof p.events?.subscribe !== "function") {
      throw invalidOption(`pools[${i}]`, "a Pool (with name and events)", pool);
    }
    if (names.has(p.name)) throw invalidOption(`pools[${i}].name`, "a unique pool name", p.name);
    names.add(p.name);
  }
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0) {
    throw invalidOption("host", "an interface address such as 127.0.0.1", host);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw invalidOption("port", "an integer port from 0 to 65535", port);
  }
  const token = options.token;
  if (token !== undefined && (typeof token !== "string" || token.length === 0)) {
    throw invalidOption("token", "a non-empty string", token);
  }
  // Safe by default, working by default: a generated token would lock out every client that
  // connects without one today (the dashboard started without FLAME_TELEMETRY_TOKEN, the
  // quick start's `token: process.env.FLAME_TELEMETRY_TOKEN` with the variable unset), so
  // without a token the server serves everything but the failures' text.
  const errorMessages = options.errorMessages ?? token !== undefined;
  if (typeof errorMessages !== "boolean") {
    throw invalidOption("errorMessages", "a boolean", errorMessages);
  }
  const allowedOrigins = options.allowedOrigins ?? [];
  if (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => !isOrigin(o))) {
    throw invalidOption(
      "allowedOrigins",
      'an array of origins such as "https://ops.example.com" (scheme://host[:port], no path)',
      allowedOrigins,
    );
  }
  const control = options.control ?? false;
  if (typeof control !== "boolean") throw invalidOption("control", "a boolean", control);
  if (control && token === undefined) {
    throw invalidOption(
      "control",
      "`control: true` together with a `token` (actions must be authenticated)",
      control,
    );
  }
  const log = options.log ?? consoleLog;
  if (log !== false && typeof log !== "function") {
    throw invalidOption("log", "false or a function (level, message, fields)", log);
  }
  const historyMs = nonNegative(options.historyMs, 900_000, "historyMs");
  return {
    pools,
    host,
    port,
    token,
    errorMessages,
    allowedOrigins: new Set(allowedOrigins),
    maxClients: positiveInteger(options.maxClients, 64, "maxClients"),
    control,
    log: log === false ? () => {} : log,
    maxBufferedBytes: positive(
      options.maxBufferedBytes,
      DEFAULT_MAX_BUFFERED_BYTES,
      "maxBufferedBytes",
    ),
    snapshotIntervalMs: nonNegative(options.snapshotIntervalMs, 1_000, "snapshotIntervalMs"),
    heartbeatIntervalMs: positive(options.heartbeatIntervalMs, 10_000, "heartbeatIntervalMs"),
    historyMs,
    samplePeriodMs: positive(options.samplePeriodMs, 1_000, "samplePeriodMs"),
    maxHistoryEvents: positiveInteger(options.maxHistoryEvents, 1_000, "maxHistoryEvents"),
    resyncIntervalMs: nonNegative(options.resyncIntervalMs, 1_000, "resyncIntervalMs"),
  };
}

/** True for loopback interfaces: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isOrigin(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, "a positive finite number", value);
  }
  return value;
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0)
    throw invalidOption(field, "a positive integer", value);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidOption(field, "a finite number ≥ 0", value);
  }
  return value;
}
