/** `@flame-ts/pool-core`: what an app imports to define functions and run them on a pool. */
export type { Backend, BootedRunner, BootRequest, RunnerExit } from "./backend.js";
export * from "./errors.js";
export {
  defineFunction,
  type FlameFunction,
  type FunctionContext,
} from "./functions.js";
export { parentId } from "./host/ids.js";
export { type ActionOptions, type CallOptions, type PlacedChild, Pool } from "./host/pool.js";
export { LocalBackend, type LocalBackendOptions } from "./local/index.js";
export {
  type BudgetOption,
  type Clock,
  DEFAULTS,
  type ExecutionOption,
  type GrowMeta,
  type GrowResult,
  type HeartbeatOption,
  type IdleCheckOption,
  type LinkOption,
  type ListenOption,
  type LogFn,
  type LogLevel,
  type PoolOptions,
  type RetryOption,
} from "./options/index.js";
export {
  currentParentIdentity,
  isParentAliveOnThisHost,
  judgeParent,
  type ParentIdentity,
  type ParentVerdict,
  type ProcSource,
} from "./parent-identity.js";
export { type RunnerInfo, runnerInfo } from "./runner-info.js";
export type {
  ControlAction,
  PoolEvent,
  PoolEventBody,
  PoolEventListener,
  PoolEvents,
  PoolSnapshot,
  RunnerSnapshot,
  SequencedSnapshot,
} from "./telemetry/events.js";
export type { Dispose, Tracked } from "./tracked/types.js";
export { untilAborted } from "./until-aborted.js";
