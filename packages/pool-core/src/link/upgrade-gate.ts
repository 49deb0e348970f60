/**
 * The runner port's door: every socket is a stranger until it has answered the parent's
 * challenge with a proof only the expected runner's token can produce (protocol/handshake.ts:
 * request 1 gets the challenge, request 2 is the upgrade that carries the answer). Checked
 * before ws reads a single frame, so nothing an unauthenticated peer sends ever reaches the
 * codec. What strangers can cost is bounded by the HandshakeCap below and Node's header size
 * limit; what they can learn is one answer to the challenge, alike for every runner id, and one
 * refusal, the same for every failure.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import {
  type ChallengeNonces,
  HEADER_CHALLENGE,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  handshakeField,
  newNonce,
  parentProof,
  proofEquals,
  protocolField,
  runnerProof,
} from "../protocol/handshake.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";

/** Largest HTTP header block a runner port reads (Node's default is 16 KiB). */
export const MAX_UPGRADE_HEADER_BYTES = 8 * 1024;
/** Sockets one peer address may hold unauthenticated at once (`listen.maxHandshakesPerSource`). */
export const DEFAULT_MAX_HANDSHAKES_PER_SOURCE = 16;
/**
 * Time a socket has from connecting to completing its upgrade (`listen.upgradeTimeout`). A
 * runner sends its challenge request as soon as it is connected (after the TLS handshake with
 * `wss://`) and its upgrade as soon as the answer arrives, so this is a few round trips with a
 * wide margin.
 */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 3_000;

/**
 * Every refused upgrade gets exactly this: whether the runner id exists, the proof was wrong,
 * the credentials were missing or a browser sent an Origin, a stranger learns only "no".
 */
export const REFUSED_STATUS = 401;
const REFUSED_BODY = "runner upgrade refused\n";
/**
 * A peer speaking another protocol version gets 426 with the parent's version in
 * `x-flame-protocol` and this body, whoever it is: it names nothing but a public number.
 */
const OTHER_PROTOCOL_BODY = `flame-ts runner port: protocol ${PROTOCOL_VERSION} only\n`;

/** Why a stranger was refused or dropped: fixed words for the log, never anything it sent. */
export type RefusalReason =
  | "browser origin"
  | "not a GET upgrade"
  | "missing or malformed credentials"
  | "no challenge on this connection"
  | "second challenge on one connection"
  | "other protocol version"
  | "unexpected runner"
  | "wrong proof"
  | "evicted by newer strangers"
  | "upgrade deadline passed";

type Refusal =
  /** Answered REFUSED_STATUS/REFUSED_BODY; `why` is for the log only. */
  | { readonly ok: false; readonly status: typeof REFUSED_STATUS; readonly why: RefusalReason }
  /** Answered 426 with OTHER_PROTOCOL_BODY: the same for every peer, so it reveals nothing. */
  | { readonly ok: false; readonly status: 426; readonly why: "other protocol version" };

export type ChallengeVerdict =
  | {
      readonly ok: true;
      readonly nonces: ChallengeNonces;
      /** Headers of the 200 answer: the parent's nonce and its proof. */
      readonly headers: Readonly<Record<string, string>>;
    }
  | Refusal;

export type GateVerdict = { readonly ok: true; readonly runnerId: string } | Refusal;

const refused = (why: RefusalReason): Refusal => ({ ok: false, status: REFUSED_STATUS, why });

/** Origin, method and protocol, checked alike on both requests. */
function precheck(req: Pick<IncomingMessage, "headers" | "method">): Refusal | null {
  if (req.headers.origin !== undefined) return refused("browser origin");
  if (req.method !== "GET") return refused("not a GET upgrade");
  const protocol = protocolField(req.headers[HEADER_PROTOCOL]);
  if (protocol === null) return refused("missing or malformed credentials");
  if (protocol !== PROTOCOL_VERSION)
    return { ok: false, status: 426, why: "other protocol version" };
  return null;
}

/**
 * Answers request 1. `tokenFor` is the expected token of a runner id, or undefined; for an id
 * nobody expects, the proof is computed under `decoyKey` (the parent's own random key), so the
 * answer looks the same and costs the same: it does not tell which ids exist, and a runner
 * checking it finds the parent unproven. Pure apart from the lookup and the fresh nonce.
 */
export function answerChallenge(
  req: Pick<IncomingMessage, "headers" | "method">,
  tokenFor: (runnerId: string) => string | undefined,
  decoyKey: Buffer,
): ChallengeVerdict {
  const bad = precheck(req);
  if (bad !== null) return bad;
  const { "content-length": length, "transfer-encoding": encoding } = req.headers;
  // A challenge has no body: refused (and closed) rather than read by Node on a stranger's behalf.
  if ((length !== undefined && length !== "0") || encoding !== undefined) {
    return refused("missing or malformed credentials");
  }
  const runnerId = handshakeField(req.headers[HEADER_RUNNER]);
  const runnerNonce = handshakeField(req.headers[HEADER_NONCE]);
  if (runnerId === null || runnerNonce === null) return refused("missing or malformed credentials");
  const nonces: ChallengeNonces = { runnerId, runnerNonce, parentNonce: newNonce() };
  return {
    ok: true,
    nonces,
    headers: {
      [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
      [HEADER_CHALLENGE]: nonces.parentNonce,
      [HEADER_PROOF]: parentProof(tokenFor(runnerId) ?? decoyKey, nonces),
    },
  };
}

/**
 * Judges request 2, the upgrade, against the challenge answered on the same connection
 * (undefined when none was, or it was spent by an earlier attempt). Pure apart from the lookup:
 * no I/O, so the fuzz tests call it directly too.
 */
export function judgeUpgrade(
  req: Pick<IncomingMessage, "headers" | "method">,
  challenge: ChallengeNonces | undefined,
  tokenFor: (runnerId: string) => string | undefined,
  decoyKey: Buffer,
): GateVerdict {
  const bad = precheck(req);
  if (bad !== null) return bad;
  const runnerId = handshakeField(req.headers[HEADER_RUNNER]);
  const proof = handshakeField(req.headers[HEADER_PROOF]);
  if (runnerId === null || proof === null) return refused("missing or malformed credentials");
  if (challenge === undefined) return refused("no challenge on this connection");
  if (challenge.runnerId !== runnerId) return refused("missing or malformed credentials");
  const expected = tokenFor(runnerId);
  // Computed and compared even when nobody is expected, so timing does not tell which ids exist.
  const match = proofEquals(runnerProof(expected ?? decoyKey, challenge), proof);
  if (expected === undefined) return refused("unexpected runner");
  if (!match) return refused("wrong proof");
  return { ok: true, runnerId };
}

export function refusalBody(status: typeof REFUSED_STATUS | 426): string {
  return status === 426 ? OTHER_PROTOCOL_BODY : REFUSED_BODY;
}

/** Answers a plain request (not an upgrade) and closes its connection. */
export function answerAndClose(res: ServerResponse, status: number, body: string): void {
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    connection: "close",
    "content-type": "text/plain",
    "content-length": String(Buffer.byteLength(body)),
    ...(status === 426 ? { [HEADER_PROTOCOL]: String(PROTOCOL_VERSION) } : {}),
  });
  res.end(body);
  // A peer that never reads its answer must not hold the socket open.
  res.socket?.setTimeout(1_000, () => res.socket?.destroy());
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  426: "Upgrade Required",
};

/** Answers a refused upgrade (or plain request) with a bare status and closes the socket. */
export function refuseSocket(socket: Socket, status: number, body: string): void {
  if (socket.destroyed) return;
  // The parent's version on a 426, so a runner of another flame-ts version can say which.
  const version = status === 426 ? `${HEADER_PROTOCOL}: ${PROTOCOL_VERSION}\r\n` : "";
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Refused"}\r\nConnection: close\r\n${version}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A peer that never reads its answer must not hold the socket open.
  socket.setTimeout(1_000, () => socket.destroy());
}

export interface HandshakeLimits {
  /** Strangers held at once, all sources together. */
  readonly max: number;
  /** Strangers held at once from one peer address. */
  readonly perSource: number;
  /** A stranger still not upgraded this long after connecting is dropped. */
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
 * Bounds the sockets that have not completed their upgrade. When the cap (or the peer
 * address's share of it) is full, the *oldest* stranger goes, not the newcomer: a runner
 * sends its challenge as soon as it is connected and its upgrade one round trip later, so it
 * is never the oldest for long, whereas a crowd that holds sockets open and reopens each one
 * dropped would otherwise keep every newcomer, runners included, out for good. A socket leaves
 * the count the moment its upgrade is judged valid, so an authenticated runner is never
 * dropped here.
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

  /** The socket answered its challenge: no longer a stranger. */
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
