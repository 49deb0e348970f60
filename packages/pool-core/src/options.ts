/**
 * `new Pool(options)`: every option, its default, and its validation. Each bad value fails
 * with INVALID_OPTIONS naming the field (see README.md, "Options").
 */
import type { Backend } from "./backend.js";
import { invalidOption } from "./errors.js";
import {
  DEFAULT_MAX_HANDSHAKES_PER_SOURCE,
  DEFAULT_UPGRADE_TIMEOUT_MS,
} from "./link/upgrade-gate.js";
import {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_QUEUED_SENDS,
  DEFAULT_SEND_HIGH_WATER_BYTES,
} from "./protocol/defaults.js";
import type { ExecutionSettings } from "./protocol/messages.js";
import { type LongTimer, setLongTimeout } from "./protocol/timers.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Time source and the one kind of timer the host uses; inject a virtual one in tests. */
export interface Clock {
  nowMs(): number;
  /** Calls `fn` once at (or after) `atMs` on this clock. */
  setTimer(atMs: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

export interface IdleCheckOption {
  readonly afterMs: number;
  /** Called when a runner was idle for `afterMs`: true = shut it down. A throw counts as "keep". */
  readonly check: (info: { runnerId: string }) => boolean | Promise<boolean>;
}

export interface GrowMeta {
  readonly name: string;
  /** Runners (ready + booting) after the change. */
  readonly count: number;
}
export type GrowResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Runner time the pool may spend per rolling window (see `PoolOptions.budget`). */
export interface BudgetOption {
  /** Runner milliseconds (boot start to exit, summed over runners) allowed per window. */
  readonly runnerMs: number;
  /** The rolling window's length in milliseconds. */
  readonly windowMs: number;
}

/**
 * How runners execute your functions. The default, worker threads, suits CPU-bound work and
 * anything that may block: the runner's link and heartbeat stay responsive, deadlines stop
 * work for real, and a crash or out-of-memory fails only the calls on that thread.
 */
export interface ExecutionOption {
  /**
   * "threads" (default): each function runs on a worker thread of the runner. "inline": on
   * the runner's own event loop — saves the thread hop (tens of µs) for tiny I/O-bound
   * functions, but a function that blocks the loop stalls every call on that runner, and a
   * function that ignores its signal cannot be stopped at its deadline.
   */
  readonly mode?: "threads" | "inline";
  /**
   * Worker threads per runner. Default: min(maxConcurrency, CPUs the runner may use), where
   * CPUs count the container's cgroup CPU quota (Docker `cpus`, Fly `guest.cpus`). With more
   * calls than threads, calls share threads (spread least-loaded).
   */
  readonly threads?: number;
  /**
   * After a call's deadline or cancel aborts `ctx.signal`, how long (ms) the function may keep
   * running before its thread is terminated and replaced (FLAME's Terminator). Default 1,000.
   */
  readonly terminateGraceMs?: number;
  /** Heap cap per worker thread in MB; a thread past it fails its calls and is replaced. Default: Node's. */
  readonly threadMemoryMb?: number;
}

/**
 * Link liveness between the pool and its runners, the same on both ends. The defaults keep
 * runners through a 5 s stall of either event loop; a killed runner is seen at once anyway
 * (its socket closes); a frozen runner or silent network within timeoutMs + intervalMs.
 */
export interface HeartbeatOption {
  /** Ping period in ms. Default 1,000. */
  readonly intervalMs?: number;
  /** A link silent this long (ms) is dropped and its calls fail RUNNER_DOWN. Default 10,000. */
  readonly timeoutMs?: number;
}

export interface PoolOptions {
  readonly name: string;
  readonly backend: Backend;
  readonly max: number;
  readonly min?: number;
  readonly maxConcurrency?: number;
  /**
   * Callers that may wait for a slot at once; one more fails `OVERLOADED` at once (so a flood
   * of callers cannot keep their inputs alive in memory forever). Default 10,000; `Infinity`
   * for no bound. A caller that finds a free slot is never refused.
   */
  readonly maxWaiting?: number;
  /**
   * Idle runners kept ready beyond current demand, within `max` (like Modal's buffer
   * containers): when callers take them, more boot. Idle min runners count toward it. Extra
   * runners idle out as usual (also when `resize` lowers it). Default 0.
   */
  readonly buffer?: number;
  /**
   * Runner time the pool may spend per rolling window: from each boot's start to its runner's
   * exit, summed over runners. When a boot is needed and the budget is spent, no boot starts
   * (a `budgetBlocked` event says so), and a caller that no running runner can take fails
   * `BUDGET_EXHAUSTED`. Applies to every boot, min and buffer included. Default: no budget.
   * Example: `{ runnerMs: 3_600_000, windowMs: 86_400_000 }` (one runner-hour per day).
   */
  readonly budget?: BudgetOption;
  readonly timeout?: number;
  readonly bootTimeout?: number;
  readonly shutdownTimeout?: number;
  readonly idleShutdownAfter?: number | IdleCheckOption;
  readonly minIdleShutdownAfter?: number;
  readonly singleUse?: boolean;
  readonly log?: false | LogLevel | LogFn;
  /** Where runners dial this parent; see ListenOption. */
  readonly listen?: ListenOption;
  /** Per-link resource bounds; see LinkOption. */
  readonly link?: LinkOption;
  readonly maxFrameBytes?: number;
  readonly failsafeTimeout?: number;
  /** How runners execute functions (worker threads by default); see ExecutionOption. */
  readonly execution?: ExecutionOption;
  /** Link liveness thresholds; see HeartbeatOption. */
  readonly heartbeat?: HeartbeatOption;
  readonly clock?: Clock;
  readonly onGrowStart?: (meta: GrowMeta) => void;
  readonly onGrowEnd?: (result: GrowResult, meta: GrowMeta) => void;
  readonly onShrink?: (meta: GrowMeta) => void;
}

/** The runner port (README "Security"). */
export interface ListenOption {
  /** Interface to listen on. Default "127.0.0.1" (loopback: only this host's runners). */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** URL runners dial when it differs from ws://host:port (e.g. a Fly 6PN address). */
  readonly advertiseUrl?: string;
  /**
   * Serve `wss://` with this PEM certificate and key, for links that cross a network you do
   * not trust. Each runner pins the certificate's SHA-256 (carried in FLAME_PARENT), so a
   * self-signed certificate is enough. Default: plain `ws://`.
   * Example: `{ cert: readFileSync("runner-port.crt", "utf8"), key: readFileSync("runner-port.key", "utf8") }`.
   */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /**
   * Sockets connected but not yet authenticated at once; when full, the oldest of them is
   * dropped (never one that presented a valid token). Default 64.
   */
  readonly maxHandshakes?: number;
  /**
   * The same bound per peer address: past it that address loses its own oldest socket, so one
   * host cannot crowd out another's runners. Default 16.
   */
  readonly maxHandshakesPerSource?: number;
  /** Milliseconds a socket has, from connecting, to present a valid token. Default 3,000. */
  readonly upgradeTimeout?: number;
}

/** Bounds on what one runner link may hold in memory. */
export interface LinkOption {
  /**
   * Bytes a link may have queued for its socket (ws `bufferedAmount`) before a new request
   * waits for it to drain. Default 32 MiB.
   */
  readonly sendHighWaterBytes?: number;
  /**
   * Requests that may wait for that drain per link; one more fails OVERLOADED at once, naming
   * this option. Default 1,000.
   */
  readonly maxQueuedSends?: number;
  /**
   * How long (ms) past a call's deadline the parent waits for the runner's answer before
   * failing the call TIMEOUT itself (a runner that hung without answering). The runner
   * enforces the deadline first; this only bounds a runner that never answers. Default 1,000;
   * 0 fails the call at its deadline.
   */
  readonly deadlineGrace?: number;
}

/** Options after defaults and validation. Infinity becomes null ("never"). */
export interface ResolvedOptions {
  readonly name: string;
  readonly backend: Backend;
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  readonly maxWaiting: number | null;
  readonly buffer: number;
  readonly budget: BudgetOption | null;
  readonly timeoutMs: number | null;
  readonly bootTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly idleShutdownAfterMs: number | null;
  readonly idleCheck: IdleCheckOption["check"] | null;
  readonly minIdleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  readonly log: LogFn;
  readonly listen: {
    readonly host: string;
    readonly port: number;
    readonly advertiseUrl?: string;
    readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
    readonly maxHandshakes: number;
    readonly maxHandshakesPerSource: number;
    readonly upgradeTimeoutMs: number;
  };
  readonly link: {
    readonly sendHighWaterBytes: number;
    readonly maxQueuedSends: number;
    readonly deadlineGraceMs: number;
  };
  readonly maxFrameBytes: number;
  readonly failsafeTimeoutMs: number;
  readonly execution: ExecutionSettings;
  readonly heartbeat: { readonly intervalMs: number; readonly timeoutMs: number };
  readonly clock: Clock;
  readonly onGrowStart: ((meta: GrowMeta) => void) | null;
  readonly onGrowEnd: ((result: GrowResult, meta: GrowMeta) => void) | null;
  readonly onShrink: ((meta: GrowMeta) => void) | null;
}

export const DEFAULTS = {
  min: 0,
  maxConcurrency: 100,
  maxWaiting: 10_000,
  buffer: 0,
  timeout: 30_000,
  bootTimeout: 30_000,
  shutdownTimeout: 30_000,
  idleShutdownAfter: 30_000,
  minIdleShutdownAfter: Number.POSITIVE_INFINITY,
  failsafeTimeout: 20_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  terminateGraceMs: DEFAULT_EXECUTION.terminateGraceMs,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  listenHost: "127.0.0.1",
  listenPort: 0,
  linkDeadlineGraceMs: 1_000,
} as const;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

/**
 * Whether this process is itself a runner: FLAME_PARENT set (before the agent read it), or
 * FLAME_RUNNER=1, the non-secret marker the agent leaves once it removed FLAME_PARENT.
 */
export function isInsideRunner(env: NodeJS.ProcessEnv): boolean {
  return (
    (typeof env.FLAME_PARENT === "string" && env.FLAME_PARENT.length > 0) ||
    env.FLAME_RUNNER === "1"
  );
}

/** `env` decides whether this process is itself a runner (see isInsideRunner): then min is 0. */
export function resolveOptions(
  options: PoolOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("options", "an object", options);
  }
  const o = options;
  if (typeof o.name !== "string" || !NAME_PATTERN.test(o.name)) {
    throw invalidOption("name", "1-63 letters, digits, '-' or '_' (used in runner ids)", o.name);
  }
  if (
    typeof o.backend !== "object" ||
    o.backend === null ||
    typeof (o.backend as Backend).boot !== "function"
  ) {
    throw invalidOption("backend", "a Backend (e.g. new LocalBackend({ entry }))", o.backend);
  }
  const max = integer("max", o.max, 1);
  const insideRunner = isInsideRunner(env);
  const min = insideRunner ? 0 : integer("min", o.min ?? DEFAULTS.min, 0);
  if (min > max) throw invalidOption("min", `at most max (${max})`, min);
  const maxConcurrency = integer("maxConcurrency", o.maxConcurrency ?? DEFAULTS.maxConcurrency, 1);
  const maxWaiting = countOrNever("maxWaiting", o.maxWaiting ?? DEFAULTS.maxWaiting);
  const buffer = integer("buffer", o.buffer ?? DEFAULTS.buffer, 0);
  if (buffer > max) throw invalidOption("buffer", `at most max (${max})`, buffer);
  const budget = resolveBudget(o.budget);

  let idleShutdownAfterMs: number | null;
  let idleCheck: IdleCheckOption["check"] | null = null;
  const idle = o.idleShutdownAfter ?? DEFAULTS.idleShutdownAfter;
  if (typeof idle === "object" && idle !== null) {
    idleShutdownAfterMs = durationOrNever("idleShutdownAfter.afterMs", idle.afterMs);
    if (typeof idle.check !== "function") {
      throw invalidOption("idleShutdownAfter.check", "a function returning a boolean", idle.check);
    }
    idleCheck = idle.check;
  } else {
    idleShutdownAfterMs = durationOrNever("idleShutdownAfter", idle);
  }

  const listen = o.listen ?? {};
  if (typeof listen !== "object" || listen === null) {
    throw invalidOption(
      "listen",
      "an object { host?, port?, advertiseUrl?, tls?, maxHandshakes?, maxHandshakesPerSource?, upgradeTimeout? }",
      listen,
    );
  }
  const host = listen.host ?? DEFAULTS.listenHost;
  if (typeof host !== "string" || host.length === 0) {
    throw invalidOption("listen.host", "a host name or IP address", host);
  }
  const port = integer("listen.port", listen.port ?? DEFAULTS.listenPort, 0);
  if (port > 65_535) throw invalidOption("listen.port", "a port in 0..65535", port);
  if (listen.advertiseUrl !== undefined && !/^wss?:\/\/./.test(String(listen.advertiseUrl))) {
    throw invalidOption("listen.advertiseUrl", "a ws:// or wss:// URL", listen.advertiseUrl);
  }
  const tls = listen.tls;
  if (tls !== undefined) {
    if (typeof tls !== "object" || tls === null) {
      throw invalidOption("listen.tls", "an object { cert, key } of PEM strings", tls);
    }
    for (const key of ["cert", "key"] as const) {
      if (typeof tls[key] !== "string" && !Buffer.isBuffer(tls[key])) {
        throw invalidOption(`listen.tls.${key}`, "a PEM string or Buffer", tls[key]);
      }
    }
    if (listen.advertiseUrl !== undefined && !String(listen.advertiseUrl).startsWith("wss://")) {
      throw invalidOption(
        "listen.advertiseUrl",
        "a wss:// URL when listen.tls is set",
        listen.advertiseUrl,
      );
    }
  }
  const maxHandshakes = integer(
    "listen.maxHandshakes",
    listen.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES,
    1,
  );
  const maxHandshakesPerSource = integer(
    "listen.maxHandshakesPerSource",
    listen.maxHandshakesPerSource ?? DEFAULT_MAX_HANDSHAKES_PER_SOURCE,
    1,
  );
  const upgradeTimeoutMs = duration(
    "listen.upgradeTimeout",
    listen.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT_MS,
  );
  const link = o.link ?? {};
  if (typeof link !== "object" || link === null) {
    throw invalidOption(
      "link",
      "an object { sendHighWaterBytes?, maxQueuedSends?, deadlineGrace? }",
      link,
    );
  }
  const sendHighWaterBytes = integer(
    "link.sendHighWaterBytes",
    link.sendHighWaterBytes ?? DEFAULT_SEND_HIGH_WATER_BYTES,
    1024,
  );
  const maxQueuedSends = integer(
    "link.maxQueuedSends",
    link.maxQueuedSends ?? DEFAULT_MAX_QUEUED_SENDS,
    0,
  );
  const deadlineGraceMs = link.deadlineGrace ?? DEFAULTS.linkDeadlineGraceMs;
  if (
    typeof deadlineGraceMs !== "number" ||
    !Number.isFinite(deadlineGraceMs) ||
    deadlineGraceMs < 0
  ) {
    throw invalidOption("link.deadlineGrace", "a number of milliseconds ≥ 0", deadlineGraceMs);
  }

  return {
    name: o.name,
    backend: o.backend,
    min,
    max,
    maxConcurrency,
    maxWaiting,
    buffer,
    budget,
    timeoutMs: durationOrNever("timeout", o.timeout ?? DEFAULTS.timeout),
    bootTimeoutMs: duration("bootTimeout", o.bootTimeout ?? DEFAULTS.bootTimeout),
    shutdownTimeoutMs: duration("shutdownTimeout", o.shutdownTimeout ?? DEFAULTS.shutdownTimeout),
    idleShutdownAfterMs,
    idleCheck,
    minIdleShutdownAfterMs: durationOrNever(
      "minIdleShutdownAfter",
      o.minIdleShutdownAfter ?? DEFAULTS.minIdleShutdownAfter,
    ),
    singleUse: boolean("singleUse", o.singleUse ?? false),
    log: resolveLog(o.log ?? false, o.name),
    listen: {
      host,
      port,
      maxHandshakes,
      maxHandshakesPerSource,
      upgradeTimeoutMs,
      ...(listen.advertiseUrl === undefined ? {} : { advertiseUrl: listen.advertiseUrl }),
      ...(tls === undefined ? {} : { tls: { cert: tls.cert, key: tls.key } }),
    },
    link: { sendHighWaterBytes, maxQueuedSends, deadlineGraceMs },
    maxFrameBytes: integer("maxFrameBytes", o.maxFrameBytes ?? DEFAULTS.maxFrameBytes, 1024),
    failsafeTimeoutMs: duration("failsafeTimeout", o.failsafeTimeout ?? DEFAULTS.failsafeTimeout),
    execution: resolveExecution(o.execution),
    heartbeat: resolveHeartbeat(o.heartbeat),
    clock: resolveClock(o.clock),
    onGrowStart: hook("onGrowStart", o.onGrowStart),
    onGrowEnd: hook("onGrowEnd", o.onGrowEnd),
    onShrink: hook("onShrink", o.onShrink),
  };
}

/** Validates `pool.resize(limits)` against the pool's own constraints. */
export function resolveLimits(
  limits: { min: number; max: number; buffer?: number },
  insideRunner: boolean,
): { min: number; max: number; buffer?: number } {
  if (typeof limits !== "object" || limits === null) {
    throw invalidOption("resize", "an object { min, max, buffer? }", limits);
  }
  const max = integer("max", limits.max, 1);
  const min = insideRunner ? 0 : integer("min", limits.min, 0);
  if (min > max) throw invalidOption("min", `at most max (${max})`, min);
  if (limits.buffer === undefined) return { min, max };
  const buffer = integer("buffer", limits.buffer, 0);
  if (buffer > max) throw invalidOption("buffer", `at most max (${max})`, buffer);
  return { min, max, buffer };
}

/** `pool.drain({ timeout })`: ms, or Infinity for no bound; defaults to the pool's `timeout`. */
export function resolveDrainTimeout(value: unknown, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  return durationOrNever("drain.timeout", value);
}

function resolveBudget(budget: unknown): BudgetOption | null {
  if (budget === undefined) return null;
  if (typeof budget !== "object" || budget === null) {
    throw invalidOption("budget", "an object { runnerMs, windowMs }", budget);
  }
  const b = budget as Partial<BudgetOption>;
  return {
    runnerMs: duration("budget.runnerMs", b.runnerMs),
    windowMs: duration("budget.windowMs", b.windowMs),
  };
}

function countOrNever(field: string, value: unknown): number | null {
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalidOption(field, "an integer ≥ 0 or Infinity", value);
  }
  return value;
}

function integer(field: string, value: unknown, least: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < least) {
    throw invalidOption(field, `an integer ≥ ${least}`, value);
  }
  return value;
}

function duration(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, "a positive number of milliseconds", value);
  }
  return value;
}

function durationOrNever(field: string, value: unknown): number | null {
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw invalidOption(field, "a positive number of milliseconds or Infinity", value);
  }
  return value;
}

function boolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidOption(field, "true or false", value);
  return value;
}

function hook<F>(field: string, value: F | undefined): F | null {
  if (value === undefined) return null;
  if (typeof value !== "function") throw invalidOption(field, "a function", value);
  return value;
}

function resolveExecution(option: ExecutionOption | undefined): ExecutionSettings {
  const e = option ?? {};
  if (typeof e !== "object" || e === null) {
    throw invalidOption(
      "execution",
      "an object { mode?, threads?, terminateGraceMs?, threadMemoryMb? }",
      e,
    );
  }
  const mode = e.mode ?? "threads";
  if (mode !== "threads" && mode !== "inline") {
    throw invalidOption("execution.mode", '"threads" or "inline"', mode);
  }
  const threads = e.threads === undefined ? null : integer("execution.threads", e.threads, 1);
  const grace = e.terminateGraceMs ?? DEFAULTS.terminateGraceMs;
  if (typeof grace !== "number" || !Number.isFinite(grace) || grace < 0) {
    throw invalidOption("execution.terminateGraceMs", "a number of milliseconds ≥ 0", grace);
  }
  const memory = e.threadMemoryMb;
  if (
    memory !== undefined &&
    (typeof memory !== "number" || !Number.isFinite(memory) || memory < 1)
  ) {
    throw invalidOption("execution.threadMemoryMb", "a number of megabytes ≥ 1", memory);
  }
  return { mode, threads, terminateGraceMs: grace, threadMemoryMb: memory ?? null };
}

function resolveHeartbeat(option: HeartbeatOption | undefined): {
  intervalMs: number;
  timeoutMs: number;
} {
  const h = option ?? {};
  if (typeof h !== "object" || h === null) {
    throw invalidOption("heartbeat", "an object { intervalMs?, timeoutMs? }", h);
  }
  const intervalMs = duration("heartbeat.intervalMs", h.intervalMs ?? DEFAULTS.heartbeatIntervalMs);
  const timeoutMs = duration("heartbeat.timeoutMs", h.timeoutMs ?? DEFAULTS.heartbeatTimeoutMs);
  if (timeoutMs <= intervalMs) {
    throw invalidOption(
      "heartbeat.timeoutMs",
      `more than heartbeat.intervalMs (${intervalMs})`,
      timeoutMs,
    );
  }
  return { intervalMs, timeoutMs };
}

function resolveClock(clock: Clock | undefined): Clock {
  if (clock === undefined) return realClock;
  for (const key of ["nowMs", "setTimer", "clearTimer"] as const) {
    if (typeof clock[key] !== "function") {
      throw invalidOption(`clock.${key}`, "a function", clock[key]);
    }
  }
  return clock;
}

function resolveLog(log: unknown, pool: string): LogFn {
  if (log === false) return () => {};
  if (typeof log === "function") return log as LogFn;
  if (typeof log === "string" && (LOG_LEVELS as readonly string[]).includes(log)) {
    const least = LOG_LEVELS.indexOf(log as LogLevel);
    return (level, message, fields) => {
      if (LOG_LEVELS.indexOf(level) < least) return;
      const extra = fields === undefined ? "" : ` ${JSON.stringify(fields)}`;
      console.error(`[flame-ts ${pool}] ${level}: ${message}${extra}`);
    };
  }
  throw invalidOption("log", 'false, "debug" | "info" | "warn" | "error", or a function', log);
}

/**
 * The host's one time base: monotonic (performance.now, so a wall-clock step cannot fire or
 * stall a deadline) but offset by the process's start time, so readings also serve as epoch
 * ms in events and snapshots. Node timers fire at it.
 */
const timeOrigin = performance.timeOrigin;
export const realClock: Clock = {
  nowMs: () => timeOrigin + performance.now(),
  // Re-armed past 2^31−1 ms: a plain setTimeout would fire a 30-day deadline at once.
  setTimer(atMs, fn) {
    return setLongTimeout(fn, atMs - (timeOrigin + performance.now()));
  },
  clearTimer(handle) {
    (handle as LongTimer | null)?.clear();
  },
};
