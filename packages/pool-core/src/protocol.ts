/**
 * `@flame-ts/pool-core/protocol`: the runner protocol's machinery, for the runner agent and
 * for backends' tests. Exactly what those consumers import (test/wire/entry-exports.test.ts
 * holds the list); the facts both ends agree on (version, close codes, exit codes, the
 * descriptor's schema) are in `@flame-ts/pool-core/wire`.
 */

// The runner-agent imports only this entry and ./wire: errors and the runner-side span helper
// live here too, so a runner never loads the host, the link or LocalBackend.
export { FlameError, type FlameErrorCode } from "./errors.js";
// The registry is what a runner serves; the agent reads it through this entry.
export {
  defineFunction,
  type FunctionContext,
  isPromiseLike,
  listFunctionIds,
  lookupFunction,
} from "./functions.js";
export {
  type ChallengeOutcome,
  type ChallengeRequest,
  challengeParent,
} from "./protocol/challenge-client.js";
export { type Codec, v8Codec } from "./protocol/codec.js";
export { type Clock, DeadlineTimer } from "./protocol/deadline-timer.js";
export {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  wsMaxPayloadFor,
} from "./protocol/defaults.js";
export { decodeParentDescriptor, encodeParentDescriptor } from "./protocol/descriptor.js";
export { decodeFrame, encodeFrame } from "./protocol/frame.js";
export {
  type ChallengeNonces,
  HEADER_CHALLENGE,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  parentProof,
  proofEquals,
  runnerProof,
} from "./protocol/handshake.js";
export { Heartbeat } from "./protocol/heartbeat.js";
export type { AnyMessage, RunnerToParent } from "./protocol/messages.js";
export { SendBatcher } from "./protocol/send-batcher.js";
export { clampTimerMs, type LongTimer, setLongTimeout } from "./protocol/timers.js";
export { generateToken } from "./protocol/token.js";
export { toWireError } from "./protocol/wire-error.js";
export { remoteSpanNeeded, runWithRemoteParent } from "./telemetry/spans.js";
// What ctx.track takes and returns, for the agent's FunctionContext.
export type { Dispose, Tracked } from "./tracked/types.js";
