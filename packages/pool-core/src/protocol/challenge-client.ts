/**
 * The runner's half of the handshake (protocol/handshake.ts), up to the upgrade: connect (with
 * `wss://`, check the pinned certificate first), send request 1 with a fresh nonce and no
 * secret, read the parent's answer (bounded), and check its proof. Only a parent that proved it
 * holds the token gets the runner's own proof, which the caller sends in its upgrade request on
 * the same connection (ws' `createConnection`). Sets no timer: the caller's `signal` bounds it.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { PROTOCOL_VERSION } from "../wire/version.js";
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
} from "./handshake.js";

/** Largest answer to request 1 read: the parent's is a few hundred bytes of headers. */
const MAX_CHALLENGE_ANSWER_BYTES = 8 * 1024;

export interface ChallengeRequest {
  /** The parent's `ws://` or `wss://` URL (the descriptor's). */
  readonly url: string;
  readonly runnerId: string;
  readonly token: string;
  /** With `wss://`: the certificate's SHA-256 to pin ("AB:CD:…"); without, CAs are checked. */
  readonly tlsCertSha256?: string | undefined;
  /** Aborting it destroys the connection; the outcome is then `unreachable`. */
  readonly signal: AbortSignal;
}

export type ChallengeOutcome =
  /** The parent proved itself: upgrade on `socket` sending `headers` (the runner's proof). */
  | {
      readonly kind: "proved";
      readonly socket: Socket;
      readonly headers: Readonly<Record<string, string>>;
    }
  /** Final: an impostor, another protocol version, or a refusal. Retrying cannot help. */
  | { readonly kind: "refused"; readonly reason: string }
  /** Worth retrying: no connection, or it closed before an answer. */
  | { readonly kind: "unreachable"; readonly reason: string };

export async function challengeParent(req: ChallengeRequest): Promise<ChallengeOutcome> {
  const url = new URL(req.url);
  const secure = url.protocol === "wss:";
  // Loaded on the first dial, not at import: every worker thread of a runner imports this
  // module's entry point (for the codec and FlameError) and never dials, and node:tls with
  // node:net were 9 of the builtins each such thread compiled before it could load the app's
  // entry (issue 23, cold start).
  const { isIP, connect: netConnect } = await import("node:net");
  const tlsConnect = secure ? (await import("node:tls")).connect : null;
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(url.port || (secure ? 443 : 80));
    const pinned = req.tlsCertSha256;
    const socket: Socket =
      tlsConnect !== null
        ? tlsConnect({
            host,
            port,
            // A pinned certificate replaces CA checks (it may be self-signed).
            rejectUnauthorized: pinned === undefined,
            ...(isIP(host) === 0 ? { servername: host } : {}),
          })
        : netConnect({ host, port });
    const nonces = { runnerId: req.runnerId, runnerNonce: newNonce() };
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (outcome: ChallengeOutcome): void => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      socket.removeListener("data", onData);
      socket.removeListener("close", onClose);
      if (outcome.kind !== "proved") socket.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => settle({ kind: "unreachable", reason: "abandoned while dialing" });
    const onClose = (): void =>
      settle({ kind: "unreachable", reason: "the connection closed before the parent answered" });
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end === -1) {
        if (received.byteLength > MAX_CHALLENGE_ANSWER_BYTES) {
          settle(notParent(req.url, "an oversized answer"));
        }
        return;
      }
      // Anything after the headers would be a body or a pipelined answer: a parent sends neither.
      const extra = received.byteLength > end + 4;
      settle(judgeAnswer(req, nonces, parseHead(received.subarray(0, end)), extra, socket));
    };
    // Kept for the socket's whole life: ws attaches its own listener one tick after the handoff.
    socket.on("error", (err) => settle({ kind: "unreachable", reason: err.message }));
    socket.on("close", onClose);
    socket.on("data", onData);
    if (req.signal.aborted) return onAbort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    const sendChallenge = (): void => {
      if (secure && pinned !== undefined) {
        const got = (socket as TLSSocket).getPeerCertificate()?.fingerprint256 ?? "(none)";
        if (got !== pinned) {
          settle({
            kind: "refused",
            reason: `parent's TLS certificate ${got} is not the pinned ${pinned}`,
          });
          return;
        }
      }
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
          `${HEADER_RUNNER}: ${req.runnerId}\r\n${HEADER_NONCE}: ${nonces.runnerNonce}\r\n` +
          `${HEADER_PROTOCOL}: ${PROTOCOL_VERSION}\r\n\r\n`,
      );
    };
    socket.once(secure ? "secureConnect" : "connect", sendChallenge);
  });
}

interface AnswerHead {
  readonly status: number | null;
  readonly headers: ReadonlyMap<string, string | null>;
}

/** Status and headers of an HTTP/1.x answer; a repeated header reads as null (malformed). */
function parseHead(bytes: Buffer): AnswerHead {
  const [statusLine = "", ...lines] = bytes.toString("latin1").split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(`${statusLine} `)?.[1];
  const headers = new Map<string, string | null>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, headers.has(name) ? null : line.slice(colon + 1).trim());
  }
  return { status: status === undefined ? null : Number(status), headers };
}

function judgeAnswer(
  req: ChallengeRequest,
  sent: { readonly runnerId: string; readonly runnerNonce: string },
  head: AnswerHead,
  extraBytes: boolean,
  socket: Socket,
): ChallengeOutcome {
  const field = (name: string): string | undefined => head.headers.get(name) ?? undefined;
  const theirs = protocolField(field(HEADER_PROTOCOL));
  if (head.status === 426) {
    return {
      kind: "refused",
      reason:
        theirs !== null && theirs !== PROTOCOL_VERSION
          ? `the parent at ${req.url} speaks flame-ts protocol ${theirs}, this runner ${PROTOCOL_VERSION}: run the same flame-ts version on both sides`
          : `the parent at ${req.url} answered HTTP 426 to a protocol ${PROTOCOL_VERSION} runner: run the same flame-ts version on both sides`,
    };
  }
  if (head.status === 401 || head.status === 403) {
    return { kind: "refused", reason: `refused by parent: HTTP ${head.status} at the challenge` };
  }
  if (head.status !== 200) {
    return head.status === null
      ? notParent(req.url, "an answer that is not HTTP")
      : { kind: "unreachable", reason: `parent answered the challenge with HTTP ${head.status}` };
  }
  const parentNonce = handshakeField(field(HEADER_CHALLENGE));
  if (extraBytes || theirs !== PROTOCOL_VERSION || parentNonce === null) {
    return notParent(req.url, "an answer without a well-formed challenge");
  }
  const nonces: ChallengeNonces = { ...sent, parentNonce };
  if (!proofEquals(parentProof(req.token, nonces), field(HEADER_PROOF))) {
    return {
      kind: "refused",
      reason: `the parent at ${req.url} did not prove it holds this runner's token (an impostor on that address, or a parent that no longer expects this runner); not serving it, and it was sent nothing it could replay`,
    };
  }
  return {
    kind: "proved",
    socket,
    headers: {
      [HEADER_RUNNER]: req.runnerId,
      [HEADER_PROOF]: runnerProof(req.token, nonces),
      [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
    },
  };
}

function notParent(url: string, what: string): ChallengeOutcome {
  return {
    kind: "refused",
    reason: `the peer at ${url} sent ${what}: not a flame-ts parent speaking protocol ${PROTOCOL_VERSION}; not serving it`,
  };
}
