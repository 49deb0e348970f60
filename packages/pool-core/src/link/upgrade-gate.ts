/**
 * The runner port's door: every socket is a stranger until its HTTP upgrade request carries a
 * runner id the parent expects and that runner's token (see protocol/handshake.ts). Checked
 * before ws reads a single frame, so nothing an unauthenticated peer sends ever reaches the
 * codec; what a stranger can cost is bounded by `maxHandshakes` sockets, Node's header size
 * limit and `helloTimeoutMs`.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import {
  HEADER_NONCE,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  handshakeField,
  parseBearer,
} from "../protocol/handshake.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import { tokensEqual } from "../protocol/token.js";
import type { LinkLog } from "./log.js";

/** Largest HTTP header block a runner port reads (Node's default is 16 KiB). */
export const MAX_UPGRADE_HEADER_BYTES = 8 * 1024;

export type GateVerdict =
  | { readonly ok: true; readonly runnerId: string; readonly nonce: string; readonly token: string }
  | {
      readonly ok: false;
      readonly status: 400 | 401 | 403 | 426;
      readonly why: string;
      /** Set when the peer proved it holds the token but speaks another protocol. */
      readonly runnerId?: string;
    };

/**
 * Judges one upgrade request. `tokenFor` is the expected token of a runner id, or undefined.
 * Pure apart from the lookup: no I/O, so the fuzz tests call it directly too.
 */
export function judgeUpgrade(
  req: Pick<IncomingMessage, "headers" | "method">,
  tokenFor: (runnerId: string) => string | undefined,
): GateVerdict {
  const h = req.headers;
  if (h.origin !== undefined) {
    return { ok: false, status: 403, why: "a browser origin may not open the runner port" };
  }
  if (req.method !== "GET") return { ok: false, status: 400, why: "not a GET upgrade" };
  const runnerId = handshakeField(h[HEADER_RUNNER]);
  const token = parseBearer(h.authorization);
  const nonce = handshakeField(h[HEADER_NONCE]);
  if (runnerId === null || token === null || nonce === null) {
    return { ok: false, status: 401, why: "missing or malformed runner credentials" };
  }
  const expected = tokenFor(runnerId);
  // Hash-compare even when nobody is expected, so timing does not tell which ids exist.
  const match = tokensEqual(token, expected ?? "");
  if (expected === undefined || !match) {
    return {
      ok: false,
      status: 401,
      why: expected === undefined ? "runner not expected" : "wrong token",
    };
  }
  const protocol = h[HEADER_PROTOCOL];
  if (protocol !== String(PROTOCOL_VERSION)) {
    return {
      ok: false,
      status: 426,
      runnerId,
      why: `runner speaks protocol ${String(protocol)}, parent speaks ${PROTOCOL_VERSION}`,
    };
  }
  return { ok: true, runnerId, nonce, token };
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  426: "Upgrade Required",
  503: "Service Unavailable",
};

/** Answers a refused upgrade (or plain request) with a bare status and closes the socket. */
export function refuseSocket(socket: Socket, status: number, why: string): void {
  if (socket.destroyed) return;
  const body = `${why}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Refused"}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A peer that never reads its answer must not hold the socket open.
  socket.setTimeout(1_000, () => socket.destroy());
}

/**
 * Caps the sockets that have not finished an authenticated upgrade: beyond `max` a new one is
 * destroyed at once; each is destroyed after `timeoutMs` if still a stranger.
 */
export class HandshakeCap {
  /**
   * Keyed by the peer's address and port, which identify one live TCP connection on this
   * listener: with TLS the socket that upgrades is the TLSSocket, not the raw socket the
   * server's "connection" event saw, and both share the peer's address.
   */
  private readonly pending = new Map<string, { socket: Socket; timer: NodeJS.Timeout }>();
  private refusedSinceLog = 0;

  constructor(
    server: Server,
    private readonly max: number,
    private readonly timeoutMs: number,
    private readonly log: LinkLog,
  ) {
    server.on("connection", (socket: Socket) => this.admit(socket));
  }

  get size(): number {
    return this.pending.size;
  }

  /** The socket became an authenticated WebSocket (or was refused): no longer counted. */
  release(socket: Socket): void {
    const key = peerKey(socket);
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(key);
  }

  destroyAll(): void {
    for (const { socket, timer } of this.pending.values()) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.pending.clear();
  }

  private admit(socket: Socket): void {
    if (this.pending.size >= this.max) {
      socket.destroy();
      // One line per burst, not one per socket: a flood must not flood the log too.
      if (this.refusedSinceLog++ === 0) {
        this.log("warn", `runner port: more than ${this.max} sockets in handshake; refusing`, {
          maxHandshakes: this.max,
        });
      }
      return;
    }
    this.refusedSinceLog = 0;
    const key = peerKey(socket);
    const timer = setTimeout(() => {
      this.release(socket);
      socket.destroy();
    }, this.timeoutMs);
    timer.unref();
    this.pending.set(key, { socket, timer });
    socket.once("close", () => {
      if (this.pending.get(key)?.socket === socket) this.release(socket);
    });
  }
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? "?"}`;
}
