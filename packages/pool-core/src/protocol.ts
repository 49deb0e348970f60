/**
 * `@flame-ts/pool-core/protocol`: the runner protocol shared by the parent and runner-agent.
 * Backends use the descriptor and token helpers; runner-agent uses all of it.
 */

// The runner-agent imports only this entry: errors and the runner-side span helper live here
// too, so a runner never loads the host, the link or LocalBackend.
export {
  FLAME_ERROR_CODES,
  FlameError,
  type FlameErrorCode,
  invalidOption,
  isFlameError,
} from "./errors.js";
// The registry is what a runner serves; the agent reads it through this entry.
export {
  defineFunction,
  type FlameFunction,
  type FunctionContext,
  isPromiseLike,
  listFunctionIds,
  lookupFunction,
} from "./functions.js";
export { type Codec, v8Codec } from "./protocol/codec.js";
export {
  CLOSE_PROTOCOL,
  CLOSE_SHUTDOWN,
  CLOSE_UNAUTHORIZED,
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_QUEUED_SENDS,
  DEFAULT_SEND_HIGH_WATER_BYTES,
  wsMaxPayloadFor,
} from "./protocol/defaults.js";
export { decodeParentDescriptor, encodeParentDescriptor } from "./protocol/descriptor.js";
export {
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  encodeRequestFrame,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  type FrameErrorCode,
  MAX_CALL_ID,
} from "./protocol/frame.js";
export {
  bearer,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  parentProof,
  parseBearer,
  proofMatches,
} from "./protocol/handshake.js";
export { Heartbeat } from "./protocol/heartbeat.js";
export * from "./protocol/messages.js";
export { SendBatcher, type SendBatcherOptions } from "./protocol/send-batcher.js";
export { clampTimerMs, type LongTimer, MAX_TIMER_MS, setLongTimeout } from "./protocol/timers.js";
export { generateToken, tokensEqual } from "./protocol/token.js";
export { fromWireError, toWireError } from "./protocol/wire-error.js";
export { remoteSpanNeeded, runWithRemoteParent } from "./telemetry/spans.js";
