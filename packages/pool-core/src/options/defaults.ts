/** Every `Pool` option's default in one table (public: `DEFAULTS` from `@flame-ts/pool-core`). */
import {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
} from "../protocol/defaults.js";

export const DEFAULTS = {
  min: 0,
  maxConcurrency: 100,
  prefetch: true,
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
