/**
 * `@flame-ts/pool-core/wire`: every fact both ends of the runner link must agree on, in one
 * place with no dependencies (not even the rest of pool-core), so the runner agent reads its
 * descriptor before it loads anything else (its cold start) and nothing restates these.
 */
export { CLOSE_PROTOCOL, CLOSE_SHUTDOWN } from "./close-codes.js";
export {
  checkDescriptor,
  DESCRIPTOR_ENV,
  type DescriptorVerdict,
  type ExecutionSettings,
  encodeDescriptor,
  type ParentDescriptor,
  parseDescriptor,
} from "./descriptor.js";
export { RUNNER_EXIT, type RunnerExitCode } from "./exit-codes.js";
export {
  ERROR_MESSAGE_KIND,
  PARENT_MESSAGE_KINDS,
  type ParentMessageKind,
  RUNNER_MESSAGE_KINDS,
  type RunnerMessageKind,
  WORK_KINDS,
  type WorkKind,
} from "./kinds.js";
export { heartbeatTimeoutFits, LIMITS, type Limit, MIN_FRAME_BYTES } from "./limits.js";
export {
  formatTrackedRef,
  parseTrackedRef,
  replaceTrackedRefs,
  TRACKED_KEY,
  type TrackedRef,
  trackedRefOf,
} from "./tracked.js";
export { PROTOCOL_VERSION } from "./version.js";
export { invalidOptionMessage, type Violation } from "./violation.js";
export type { WireError } from "./wire-error.js";
