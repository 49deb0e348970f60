/**
 * Sends frames on a ws WebSocket (both ends of the runner link), batching the frames sent in
 * one tick into few writev calls instead of one syscall each.
 *
 * - The first frame of a tick is written at once, so a lone call pays no batching delay.
 * - The frames after it are corked and flushed every `maxFramesPerWrite` frames (or
 *   `maxBytesPerWrite` bytes) and at the end of the tick, so the peer starts on the first
 *   ones while later ones are still being produced.
 *
 * Measured on the call bench (2 cores): corking a whole tick made parent and runner take
 * turns (each ~50% idle; throughput @16 0.69–0.74× raw); flushing every 8 frames kept both
 * busy (0.95–1.02×). Every 2 frames cost too many syscalls (0.73–0.93×); 16 brought the
 * turn-taking back at 16 callers (0.64–0.80×).
 *
 * An answer frame over `answerPartBytes` leaves as several `answer.part` messages
 * (answer-parts.ts), sent one after the other in this one call, so nothing else on the link
 * comes between them and the receiver never assembles the whole frame as one ws message. Only
 * a runner sends answers, so on the parent's side this never splits anything.
 *
 * ws does not expose its socket publicly; it is read from the `_socket` field that ws has
 * kept since v1. If a future ws drops it, sends still work, just unbatched.
 */
import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import { ANSWER_PART_BYTES, splitAnswerFrame } from "./answer-parts.js";

export interface SendBatcherOptions {
  /** Flush once this many frames are corked. */
  readonly maxFramesPerWrite?: number;
  /** Flush once this many bytes are corked (large payloads leave at once). */
  readonly maxBytesPerWrite?: number;
  /** Answer frames over this many bytes leave in parts of this size. Default 1 MiB. */
  readonly answerPartBytes?: number;
}

const DEFAULT_MAX_FRAMES_PER_WRITE = 8;
const DEFAULT_MAX_BYTES_PER_WRITE = 64 * 1024;

export class SendBatcher {
  private readonly socket: Socket | undefined;
  private readonly maxFrames: number;
  private readonly maxBytes: number;
  private readonly partBytes: number;
  private corked = false;
  private frames = 0;
  private bytes = 0;
  private sentThisTick = false;
  private readonly endOfTick = (): void => {
    this.sentThisTick = false;
    if (this.corked) this.flush();
  };

  constructor(
    private readonly ws: WebSocket,
    options: SendBatcherOptions = {},
  ) {
    const raw = (ws as unknown as { _socket?: unknown })._socket;
    this.socket =
      raw !== null && typeof raw === "object" && typeof (raw as Socket).cork === "function"
        ? (raw as Socket)
        : undefined;
    this.maxFrames = options.maxFramesPerWrite ?? DEFAULT_MAX_FRAMES_PER_WRITE;
    this.maxBytes = options.maxBytesPerWrite ?? DEFAULT_MAX_BYTES_PER_WRITE;
    this.partBytes = options.answerPartBytes ?? ANSWER_PART_BYTES;
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (frame.byteLength <= this.partBytes) {
      this.sendOne(frame);
      return;
    }
    for (const part of splitAnswerFrame(frame, this.partBytes)) this.sendOne(part);
  }

  private sendOne(frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) {
      this.ws.send(frame);
      return;
    }
    if (!this.sentThisTick) {
      // The first frame of a tick leaves at once (a lone call pays no batching delay);
      // frames that follow it in the same tick are batched.
      this.sentThisTick = true;
      process.nextTick(this.endOfTick);
      this.ws.send(frame);
      return;
    }
    if (!this.corked) {
      this.corked = true;
      socket.cork();
    }
    this.ws.send(frame);
    this.frames += 1;
    this.bytes += frame.byteLength;
    if (this.frames >= this.maxFrames || this.bytes >= this.maxBytes) this.flush();
  }

  private flush(): void {
    this.corked = false;
    this.frames = 0;
    this.bytes = 0;
    this.socket?.uncork();
  }
}
