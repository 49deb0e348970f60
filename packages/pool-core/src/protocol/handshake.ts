/**
 * The runner link's authentication, done in the HTTP upgrade before any WebSocket frame
 * exists (protocol 3):
 *
 *   runner → parent   GET <url>  Upgrade: websocket
 *                     x-flame-runner: <runnerId>
 *                     authorization: Bearer <token>
 *                     x-flame-nonce: <16 random bytes, base64url>
 *                     x-flame-protocol: <PROTOCOL_VERSION>
 *   parent → runner   101 Switching Protocols
 *                     x-flame-proof: base64url(HMAC-SHA256(token, "flame-ts/3 parent" runnerId nonce))
 *
 * The parent checks the token in constant time and refuses with 401, one status and one body
 * for every refusal (a request carrying `Origin` included: browsers never dial runners), before
 * ws reads a byte of frame data. The
 * runner checks the proof before it sends its hello or runs anything: a parent that does not
 * know the token (an impostor on the advertised address) cannot produce it.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const HEADER_RUNNER = "x-flame-runner";
export const HEADER_NONCE = "x-flame-nonce";
export const HEADER_PROTOCOL = "x-flame-protocol";
export const HEADER_PROOF = "x-flame-proof";

/** Bytes of randomness in a runner's nonce. */
const NONCE_BYTES = 16;
/** Longest runner id or nonce accepted in a header: ids are `<pool>-<n>-<hex>`, far shorter. */
const MAX_HANDSHAKE_FIELD_CHARS = 256;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString("base64url");
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** The token in an `authorization: Bearer …` header, or null. */
export function parseBearer(header: string | undefined): string | null {
  if (typeof header !== "string") return null;
  const match = /^Bearer ([A-Za-z0-9_-]{1,256})$/.exec(header);
  return match?.[1] ?? null;
}

/** What the parent answers in `x-flame-proof`: only a holder of the token can compute it. */
export function parentProof(token: string, runnerId: string, nonce: string): string {
  return createHmac("sha256", token)
    .update(`flame-ts/3 parent\n${runnerId}\n${nonce}`, "utf8")
    .digest("base64url");
}

/** Constant-time check of the parent's proof. */
export function proofMatches(
  token: string,
  runnerId: string,
  nonce: string,
  proof: string | undefined,
): boolean {
  if (typeof proof !== "string") return false;
  const expected = Buffer.from(parentProof(token, runnerId, nonce), "utf8");
  const got = Buffer.from(proof, "utf8");
  return got.byteLength === expected.byteLength && timingSafeEqual(got, expected);
}

/** A header field as a single well-formed string, or null (absent, repeated, too long, odd bytes). */
export function handshakeField(value: string | string[] | undefined): string | null {
  if (typeof value !== "string") return null;
  if (value.length === 0 || value.length > MAX_HANDSHAKE_FIELD_CHARS) return null;
  return /^[A-Za-z0-9._:-]+$/.test(value) ? value : null;
}
