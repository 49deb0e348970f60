/** Protocol-wide defaults shared by both ends of the runner link. */
import type { ExecutionSettings } from "./messages.js";

/** How runners execute functions unless the pool says otherwise (the `execution` option). */
export const DEFAULT_EXECUTION: ExecutionSettings = {
  mode: "threads",
  threads: null,
  terminateGraceMs: 1_000,
  threadMemoryMb: null,
};

/**
 * Largest frame either side sends or accepts unless configured (`maxFrameBytes`): 16 MiB.
 * A v8-decoded frame can take many times its size in heap, so the default stays well below
 * what a parent can afford per runner; pass large data by reference (a URL, a storage key).
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Sockets the runner port lets sit connected but unauthenticated at once (`listen.maxHandshakes`). */
export const DEFAULT_MAX_HANDSHAKES = 64;

/**
 * Bytes a link may have queued in its socket (ws `bufferedAmount`) before a new request waits
 * (`link.sendHighWaterBytes`): past it the peer or the network is slower than the callers.
 */
export const DEFAULT_SEND_HIGH_WATER_BYTES = 32 * 1024 * 1024;
/** Requests that may wait for the send budget per link before one fails OVERLOADED (`link.maxQueuedSends`). */
export const DEFAULT_MAX_QUEUED_SENDS = 1_000;
/**
 * Bytes of answers one link may hold received and not yet decoded (`link.answerBudgetBytes`;
 * never below maxFrameBytes): room for a few large answers decoding at once.
 */
export const DEFAULT_ANSWER_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Each side pings every `heartbeatIntervalMs` and drops the link when nothing (pong or frame)
 * arrived for `heartbeatTimeoutMs`. Sized so a 5 s stall of either event loop (GC, sync work,
 * a big decode) loses no runner: a stalled side's first late tick judges nothing (see
 * Heartbeat), and the other side waits 10 s. A killed process is seen at once anyway: its
 * socket closes. A frozen one (SIGSTOP, a paused VM) or a silent network is seen within
 * timeout + interval = 11 s.
 */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * ws' own payload limit, set above maxFrameBytes so a frame that is too large (but not
 * absurdly so) still arrives and can be answered with an error for its call id instead of
 * dropping the whole link.
 */
export function wsMaxPayloadFor(maxFrameBytes: number): number {
  return Math.min(maxFrameBytes * 2 + 1024 * 1024, 2 ** 31 - 1);
}
