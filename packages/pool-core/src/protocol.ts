/**
 * `@flame-ts/pool-core/protocol`: the runner protocol shared by the parent and runner-agent.
 * Backends use the descriptor and token helpers; runner-agent uses all of it.
 */

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
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_FRAME_BYTES,
  HEARTBEAT_MISSES,
  wsMaxPayloadFor,
} from "./protocol/defaults.js";
export { decodeParentDescriptor, encodeParentDescriptor } from "./protocol/descriptor.js";
export {
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  type FrameErrorCode,
  MAX_CALL_ID,
} from "./protocol/frame.js";
export { Heartbeat } from "./protocol/heartbeat.js";
export * from "./protocol/messages.js";
export { SendBatcher, type SendBatcherOptions } from "./protocol/send-batcher.js";
export { generateToken, tokensEqual } from "./protocol/token.js";
export { fromWireError, toWireError } from "./protocol/wire-error.js";
