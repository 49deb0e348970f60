/** Instrument, span and attribute names (modelled on the db.client.connection.* conventions). */
export const INSTRUMENTATION_SCOPE = "@flame-ts/pool-core";

export const SPAN = {
  call: "flame.call",
  run: "flame.run",
  boot: "flame.boot",
  shutdown: "flame.shutdown",
} as const;

export const METRIC = {
  runnerCount: "flame.pool.runner.count",
  runnerMin: "flame.pool.runner.min",
  runnerMax: "flame.pool.runner.max",
  slotCount: "flame.pool.slot.count",
  slotMax: "flame.pool.slot.max",
  pendingRequests: "flame.pool.pending_requests",
  waitTime: "flame.pool.wait_time",
  createTime: "flame.pool.create_time",
  useTime: "flame.pool.use_time",
  timeouts: "flame.pool.timeouts",
  bootFailures: "flame.pool.boot.failures",
} as const;

export const ATTR = {
  pool: "flame.pool.name",
  runnerState: "flame.pool.runner.state",
  slotState: "flame.pool.slot.state",
  runnerId: "flame.runner.id",
  fn: "flame.function",
  callKind: "flame.call.kind",
  bootId: "flame.boot.id",
  bootIsMin: "flame.boot.is_min",
  shutdownReason: "flame.shutdown.reason",
  errorType: "error.type",
} as const;

/** Seconds buckets for wait/create/use time (the semconv advice for pool timings). */
export const SECONDS_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
