/**
 * A per-link send budget: what one runner link may hold in this process's memory. A request
 * goes out at once while the socket's queue (ws `bufferedAmount`) is under the high-water
 * mark; past it, it waits here, in order, until the socket drains. The wait is bounded by
 * count (`maxQueuedSends`) and bytes (`sendHighWaterBytes`), so a link holds at most about
 * twice the high-water mark whatever the callers do; beyond that, `offer` says "full" and the
 * caller fails at once (OVERLOADED) instead of piling up.
 */
import type { WebSocket } from "ws";
import type { SendBatcher } from "../protocol/send-batcher.js";

export type Offer = "sent" | "waiting" | "full";

export class SendBudget {
  private readonly waiting = new Map<number, Buffer>();
  private waitingBytes = 0;
  private drainHooked = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly batcher: SendBatcher,
    private readonly highWaterBytes: number,
    private readonly maxQueued: number,
  ) {}

  /** Requests waiting and their bytes (for errors and tests). */
  get waitingCount(): number {
    return this.waiting.size;
  }
  get heldBytes(): number {
    return this.waitingBytes;
  }

  /** Sends `frame` (request `id`) now, queues it, or refuses it when the queue is full. */
  offer(id: number, frame: Buffer): Offer {
    if (this.waiting.size === 0 && !this.overHighWater(frame.byteLength)) {
      this.batcher.send(frame);
      return "sent";
    }
    if (
      this.waiting.size >= this.maxQueued ||
      this.waitingBytes + frame.byteLength > this.highWaterBytes
    ) {
      return "full";
    }
    this.waiting.set(id, frame);
    this.waitingBytes += frame.byteLength;
    this.hookDrain();
    return "waiting";
  }

  /** Drops request `id` if it is still waiting; true when it never left this process. */
  withdraw(id: number): boolean {
    const frame = this.waiting.get(id);
    if (frame === undefined) return false;
    this.waiting.delete(id);
    this.waitingBytes -= frame.byteLength;
    return true;
  }

  clear(): void {
    this.waiting.clear();
    this.waitingBytes = 0;
  }

  /** A frame of `bytes` would take the socket's queue past the high-water mark. */
  private overHighWater(bytes: number): boolean {
    const buffered = this.ws.bufferedAmount;
    // An empty socket always takes one frame, however large (it is bounded by maxFrameBytes).
    return buffered > 0 && buffered + bytes > this.highWaterBytes;
  }

  /**
   * ws has no drain event; its socket does (read from `_socket`, as SendBatcher does). A ws
   * without one never reports bufferedAmount > 0 for long enough to queue anything.
   */
  private hookDrain(): void {
    if (this.drainHooked) return;
    const socket = (this.ws as unknown as { _socket?: NodeJS.EventEmitter })._socket;
    if (socket === undefined || typeof socket.on !== "function") return;
    this.drainHooked = true;
    socket.on("drain", () => this.sendWaiting());
  }

  /** The socket drained: send waiting requests, in order, up to the high-water mark. */
  private sendWaiting(): void {
    for (const [id, frame] of this.waiting) {
      if (this.ws.readyState !== this.ws.OPEN || this.overHighWater(frame.byteLength)) return;
      this.withdraw(id);
      this.batcher.send(frame);
    }
  }
}
