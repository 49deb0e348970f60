/**
 * The runner port's door: every socket is a stranger until its HTTP upgrade request carries a
 * runner id the parent expects and that runner's token (see protocol/handshake.ts). Checked
 * before ws reads a single frame, so nothing an unauthenticated peer sends ever reaches the
 * codec. What strangers can cost is bounded by the HandshakeCap below and Node's header size
 * limit; what they can learn is one answer, the same for every refusal.
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

/** Largest HTTP header block a runner port reads (Node's default is 16 KiB). */
export const MAX_UPGRADE_HEADER_BYTES = 8 * 1024;
/** Sockets one peer address may hold unauthenticated at once (`listen.maxHandshakesPerSource`). */
export const DEFAULT_MAX_HANDSHAKES_PER_SOURCE = 16;
/**
 * Time a socket has from connecting to presenting a valid token (`listen.upgradeTimeout`). A
 * runner sends its upgrade request as soon as it is connected (after the TLS handshake with
 * `wss://`), so this is a few round trips with a wide margin.
 */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 3_000;

/**
 * Every refused upgrade gets exactly this: whether the runner id exists, the token was wrong,
 * the credentials were missing or a browser sent an Origin, a stranger learns only "no".
 */
export const REFUSED_STATUS = 401;
export const REFUSED_BODY = "runner upgrade refused\n";

/** Why a stranger was refused or dropped: fixed words for the log, never anything it sent. */
export type RefusalReason =
  | "browser origin"
  | "not a GET upgrade"
  | "missing or malformed credentials"
  | "unexpected runner"
  | "wrong token"
  | "evicted by newer strangers"
  | "upgrade deadline passed";

export type GateVerdict =
  | { readonly ok: true; readonly runnerId: string; readonly nonce: string; readonly token: string }
  /** A stranger: answered REFUSED_STATUS/REFUSED_BODY; `why` is for the log only. */
  | { readonly ok: false; readonly status: typeof REFUSED_STATUS; readonly why: RefusalReason }
  /**
   * The peer proved it holds the token but speaks another protocol: only a token holder can
   * get here, so telling it why (426) reveals nothing to strangers and fails that boot at once.
   */
  | { readonly ok: false; readonly status: 426; readonly why: string; readonly runnerId: string };

/**
 * Judges one upgrade request. `tokenFor` is the expected token of a runner id, or undefined.
 * Pure apart from the lookup: no I/O, so the fuzz tests call it directly too.
 */
export function judgeUpgrade(
  req: Pick<IncomingMessage, "headers" | "method">,
  tokenFor: (runnerId: string) => string | undefined,
): GateVerdict {
  const h = req.headers;
  const refused = (why: RefusalReason): GateVerdict => ({ ok: false, status: REFUSED_STATUS, why });
  if (h.origin !== undefined) return refused("browser origin");
  if (req.method !== "GET") return refused("not a GET upgrade");
  const runnerId = handshakeField(h[HEADER_RUNNER]);
  const token = parseBearer(h.authorization);
  const nonce = handshakeField(h[HEADER_NONCE]);
  if (runnerId === null || token === null || nonce === null) {
    return refused("missing or malformed credentials");
  }
  const expected = tokenFor(runnerId);
  // Hash-compare even when nobody is expected, so timing does not tell which ids exist.
  const match = tokensEqual(token, expected ?? "");
  if (expected === undefined) return refused("unexpected runner");
  if (!match) return refused("wrong token");
  const protocol = h[HEADER_PROTOCOL];
  if (protocol !== String(PROTOCOL_VERSION)) {
    // Even a token holder's header is not echoed: only a short number is worth showing.
    const theirs = typeof protocol === "string" && /^\d{1,4}$/.test(protocol) ? protocol : "?";
    return {
      ok: false,
      status: 426,
      runnerId,
      why: `runner speaks protocol ${theirs}, parent speaks ${PROTOCOL_VERSION}`,
    };
  }
  return { ok: true, runnerId, nonce, token };
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  426: "Upgrade Required",
};

/** Answers a refused upgrade (or plain request) with a bare status and closes the socket. */
export function refuseSocket(socket: Socket, status: number, body: string): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Refused"}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A peer that never reads its answer must not hold the socket open.
  socket.setTimeout(1_000, () => socket.destroy());
}

export interface HandshakeLimits {
  /** Strangers held at once, all sources together. */
  readonly max: number;
  /** Strangers held at once from one peer address. */
  readonly perSource: number;
  /** A stranger still without a valid token this long after connecting is dropped. */
  readonly timeoutMs: number;
}

interface Stranger {
  readonly socket: Socket;
  readonly source: string;
  readonly timer: NodeJS.Timeout;
  /** Answered already (refused): a later drop is not counted as a second refusal. */
  judged: boolean;
}

/**
 * Bounds the sockets that have not presented a valid token. When the cap (or the peer
 * address's share of it) is full, the *oldest* stranger goes, not the newcomer: a runner
 * presents its token as soon as it is connected, so it is never the oldest for long, whereas
 * a crowd that holds sockets open and reopens each one dropped would otherwise keep every
 * newcomer, runners included, out for good. A socket leaves the count the moment its token
 * is judged valid, so one that presents a valid token is never dropped here.
 */
export class HandshakeCap {
  /**
   * Oldest first (Map keeps insertion order). Keyed by the peer's address and port, which
   * identify one live TCP connection on this listener: with TLS the socket that upgrades is
   * the TLSSocket, not the raw socket the server's "connection" event saw, and both share
   * the peer's address.
   */
  private readonly pending = new Map<string, Stranger>();
  private readonly bySource = new Map<string, number>();

  constructor(
    server: Server,
    private readonly limits: HandshakeLimits,
    private readonly onDrop: (why: RefusalReason, source: string) => void,
  ) {
    server.on("connection", (socket: Socket) => this.admit(socket));
  }

  get size(): number {
    return this.pending.size;
  }

  /** The socket presented a valid token: no longer a stranger. */
  release(socket: Socket): void {
    const key = peerKey(socket);
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    const left = (this.bySource.get(entry.source) ?? 1) - 1;
    if (left > 0) this.bySource.set(entry.source, left);
    else this.bySource.delete(entry.source);
  }

  /** The socket was refused: it stays counted (and evictable) until it closes. */
  judged(socket: Socket): void {
    const entry = this.pending.get(peerKey(socket));
    if (entry !== undefined) entry.judged = true;
  }

  destroyAll(): void {
    for (const { socket, timer } of this.pending.values()) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.pending.clear();
    this.bySource.clear();
  }

  private admit(socket: Socket): void {
    if (socket.remoteAddress === undefined) {
      // Already gone (reset before we saw it): nothing to count, and no key to count it by.
      socket.destroy();
      return;
    }
    const source = sourceOf(socket);
    if ((this.bySource.get(source) ?? 0) >= this.limits.perSource) {
      // One address may crowd out only its own sockets, never another host's runners.
      this.drop(this.oldest(source), "evicted by newer strangers");
    } else if (this.pending.size >= this.limits.max) {
      this.drop(this.oldest(), "evicted by newer strangers");
    }
    const key = peerKey(socket);
    const timer = setTimeout(() => {
      // Judged after pending I/O: a parent whose event loop stalled past the deadline first
      // reads the upgrade requests that arrived meanwhile (poll runs before setImmediate).
      setImmediate(() => {
        const entry = this.pending.get(key);
        if (entry?.socket === socket) this.drop(entry, "upgrade deadline passed");
      });
    }, this.limits.timeoutMs);
    timer.unref();
    this.pending.set(key, { socket, source, timer, judged: false });
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    socket.once("close", () => {
      if (this.pending.get(key)?.socket === socket) this.release(socket);
    });
  }

  private oldest(source?: string): Stranger | undefined {
    for (const entry of this.pending.values()) {
      if (source === undefined || entry.source === source) return entry;
    }
    return undefined;
  }

  private drop(entry: Stranger | undefined, why: RefusalReason): void {
    if (entry === undefined) return;
    this.release(entry.socket);
    entry.socket.destroy();
    if (!entry.judged) this.onDrop(why, entry.source);
  }
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? "?"}`;
}

/** The peer's address; an IPv4 peer on a dual-stack listener counts as its IPv4 address. */
export function sourceOf(socket: Socket): string {
  const address = socket.remoteAddress ?? "?";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
