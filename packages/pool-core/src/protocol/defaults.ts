/** Protocol-wide defaults shared by both ends of the runner link. */

/** Largest frame either side sends or accepts unless configured: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Each side pings every `heartbeatIntervalMs` and drops the link when nothing (pong or frame)
 * arrived for `HEARTBEAT_MISSES × interval`: 500 ms × 3 = a dead peer is seen within ~2 s.
 */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
export const HEARTBEAT_MISSES = 3;

/**
 * ws' own payload limit, set above maxFrameBytes so a frame that is too large (but not
 * absurdly so) still arrives and can be answered with an error for its call id instead of
 * dropping the whole link.
 */
export function wsMaxPayloadFor(maxFrameBytes: number): number {
  return Math.min(maxFrameBytes * 2 + 1024 * 1024, 2 ** 31 - 1);
}

/** WebSocket close codes the parent uses when it refuses a runner (the agent exits 4 on them). */
export const CLOSE_UNAUTHORIZED = 4001;
export const CLOSE_PROTOCOL = 4002;
/** Close codes for an orderly end of the link. */
export const CLOSE_SHUTDOWN = 4000;
