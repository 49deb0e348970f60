/**
 * The runner link's authentication (protocol 5): a challenge–response in both directions, done
 * in plain HTTP on one TCP (or TLS) connection before any WebSocket frame exists. Neither side
 * sends anything a listener could replay: the token itself never travels, and each proof is an
 * HMAC over two fresh nonces, one chosen by each side.
 *
 *   runner → parent   GET <path>                       (request 1: the challenge)
 *                     x-flame-runner: <runnerId>
 *                     x-flame-nonce: <runner nonce, 16 random bytes, base64url>
 *                     x-flame-protocol: <PROTOCOL_VERSION>
 *   parent → runner   200, keep-alive, no body
 *                     x-flame-protocol: <PROTOCOL_VERSION>
 *                     x-flame-challenge: <parent nonce>
 *                     x-flame-proof: HMAC-SHA256(token, "flame-ts/5 parent" id rNonce pNonce)
 *   runner            checks the parent's proof; an impostor cannot compute it, and gets nothing
 *   runner → parent   GET <path>  Upgrade: websocket    (request 2, same connection)
 *                     x-flame-runner: <runnerId>
 *                     x-flame-proof: HMAC-SHA256(token, "flame-ts/5 runner" id rNonce pNonce)
 *                     x-flame-protocol: <PROTOCOL_VERSION>
 *   parent → runner   101 Switching Protocols, or the one refusal (401)
 *
 * The parent keeps the challenge on the connection it answered it on and forgets it after one
 * upgrade attempt: the runner's proof is worth nothing on any other connection or a second
 * time. For a runner id it does not expect, the parent answers request 1 just the same, with a
 * proof under a key of its own, so that answer does not tell a stranger which ids exist.
 * The two proofs are domain-separated ("parent" / "runner"), so the parent's answer can never
 * stand in for the runner's. What a live relay on a plain `ws://` path can still do is in the
 * README ("The runner link").
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const HEADER_RUNNER = "x-flame-runner";
/** The runner's nonce, in request 1. */
export const HEADER_NONCE = "x-flame-nonce";
/** The parent's nonce, in its answer to request 1. */
export const HEADER_CHALLENGE = "x-flame-challenge";
/** The parent's proof in its answer to request 1; the runner's in request 2. */
export const HEADER_PROOF = "x-flame-proof";
export const HEADER_PROTOCOL = "x-flame-protocol";

/** Bytes of randomness in a nonce (either side's). */
const NONCE_BYTES = 16;
/** Longest runner id, nonce or proof accepted in a header: ids are `<pool>-<n>-<hex>`, far shorter. */
const MAX_HANDSHAKE_FIELD_CHARS = 256;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString("base64url");
}

/** The two nonces of one challenge, bound to the runner id they were exchanged for. */
export interface ChallengeNonces {
  readonly runnerId: string;
  readonly runnerNonce: string;
  readonly parentNonce: string;
}

function proof(role: "parent" | "runner", key: string | Buffer, n: ChallengeNonces): string {
  return createHmac("sha256", key)
    .update(`flame-ts/5 ${role}\n${n.runnerId}\n${n.runnerNonce}\n${n.parentNonce}`, "utf8")
    .digest("base64url");
}

/** What the parent answers request 1 with: only a holder of the token can compute it. */
export function parentProof(key: string | Buffer, nonces: ChallengeNonces): string {
  return proof("parent", key, nonces);
}

/** What the runner sends in request 2: only a holder of the token can compute it. */
export function runnerProof(key: string | Buffer, nonces: ChallengeNonces): string {
  return proof("runner", key, nonces);
}

/** Constant-time comparison of a proof received against the one expected. */
export function proofEquals(expected: string, got: string | undefined): boolean {
  if (typeof got !== "string") return false;
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(got, "utf8");
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** A header field as a single well-formed string, or null (absent, repeated, too long, odd bytes). */
export function handshakeField(value: string | string[] | undefined): string | null {
  if (typeof value !== "string") return null;
  if (value.length === 0 || value.length > MAX_HANDSHAKE_FIELD_CHARS) return null;
  return /^[A-Za-z0-9._:-]+$/.test(value) ? value : null;
}

/** A protocol version header as a short number, or null: never echo more than that. */
export function protocolField(value: string | string[] | undefined): number | null {
  return typeof value === "string" && /^\d{1,4}$/.test(value) ? Number(value) : null;
}
