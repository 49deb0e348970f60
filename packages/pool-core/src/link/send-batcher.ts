/**
 * Sends frames on a ws WebSocket, corking the TCP socket for the rest of the current tick so
 * that many calls issued together leave in one writev instead of one syscall each.
 *
 * ws does not expose its socket publicly; it is read from the `_socket` field that ws has
 * kept since v1. If a future ws drops it, sends still work, just unbatched.
 */
import type { Socket } from "node:net";
import type { WebSocket } from "ws";

export class SendBatcher {
  private readonly socket: Socket | undefined;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };

  constructor(private readonly ws: WebSocket) {
    const raw = (ws as unknown as { _socket?: unknown })._socket;
    this.socket =
      raw !== null && typeof raw === "object" && typeof (raw as Socket).cork === "function"
        ? (raw as Socket)
        : undefined;
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.corked && this.socket !== undefined) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(frame);
  }
}
