/**
 * Liveness for one WebSocket, used the same way on both ends: ping every interval, drop the
 * link when nothing (pong or any frame) arrived for `timeoutMs`.
 *
 * If this process itself was stalled (a tick arrives far later than scheduled: a blocked
 * event loop, a suspended VM), the peer's pongs may be sitting unread in the socket; that
 * tick judges nothing and only pings, so a busy parent does not kill healthy runners.
 */
import type { WebSocket } from "ws";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_TIMEOUT_MS } from "./defaults.js";
import { clampTimerMs } from "./timers.js";

export class Heartbeat {
  private lastSeenAtMs = performance.now();
  private lastTickAtMs = performance.now();
  /**
   * Frames seen since the last tick. Counting (not timestamping) each frame keeps a clock
   * read off the per-frame hot path; the tick turns a non-zero count into "seen now".
   */
  private framesSinceTick = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly onPong = (): void => {
    this.lastSeenAtMs = performance.now();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly onDead: (silentForMs: number) => void,
    private readonly intervalMs: number = DEFAULT_HEARTBEAT_INTERVAL_MS,
    private readonly timeoutMs: number = DEFAULT_HEARTBEAT_TIMEOUT_MS,
  ) {
    ws.on("pong", this.onPong);
    ws.on("ping", this.onPong);
    // Clamped: setInterval turns anything past 2^31−1 ms into 1 ms (a ping storm).
    this.timer = setInterval(() => this.tick(), clampTimerMs(intervalMs));
    this.timer.unref();
  }

  /** Any frame from the peer proves it is alive. */
  sawTraffic(): void {
    this.framesSinceTick += 1;
  }

  stop(): void {
    clearInterval(this.timer);
    this.ws.off("pong", this.onPong);
    this.ws.off("ping", this.onPong);
  }

  private tick(): void {
    const now = performance.now();
    const stalled = now - this.lastTickAtMs > this.intervalMs * 2;
    this.lastTickAtMs = now;
    if (this.framesSinceTick > 0) {
      this.framesSinceTick = 0;
      this.lastSeenAtMs = now;
    }
    if (stalled) {
      this.lastSeenAtMs = Math.max(this.lastSeenAtMs, now - this.intervalMs);
    } else if (now - this.lastSeenAtMs > this.timeoutMs) {
      this.stop();
      this.onDead(Math.round(now - this.lastSeenAtMs));
      return;
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }
}
