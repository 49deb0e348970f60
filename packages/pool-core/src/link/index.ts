/** The parent side of the runner link (internal to pool-core; the host drives it). */
export type { LinkLog, LinkLogLevel } from "./log.js";
export {
  type Cancelled,
  type LinkEvents,
  type ReleasedOutcome,
  type Reply,
  type RequestOptions,
  RunnerConnection,
  type WorkKind,
} from "./runner-connection.js";
export { RunnerServer, type RunnerServerOptions } from "./runner-server.js";
