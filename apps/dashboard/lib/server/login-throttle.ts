/**
 * Slows token guessing on the login form without ever locking out the holder of the right
 * token. A refusal that does not look at the token (the old "10 wrong tokens, then everyone
 * waits a minute") locks the operator out too, for as long as a stranger keeps guessing;
 * nothing but the token tells them apart, so instead of refusing, the dashboard makes each
 * attempt cost work (see ../login-proof.ts):
 *
 * - up to FREE_FAILURES wrong tokens within WINDOW_MS, a login needs nothing more;
 * - past that, a login must carry a proof of work for a fresh challenge from GET /api/login,
 *   or its token is not even compared (so it tells a guesser nothing). The work grows with
 *   the number of recent wrong tokens, from BASE_BITS to MAX_BITS (each bit doubles it).
 *
 * The browser solves the proof by itself (about a second at BASE_BITS), so the operator waits
 * a little and gets in; a guesser pays the same for every single guess. Per process, kept on
 * globalThis so every route module shares it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { leadingZeroBits, proofInput } from "../login-proof";

export const FREE_FAILURES = 10;
export const WINDOW_MS = 60_000;
export const BASE_BITS = 18;
export const MAX_BITS = 21;
/** A challenge must be solved and used within this time, once. */
const CHALLENGE_TTL_MS = 120_000;
/** Enough to reach MAX_BITS; older failures are forgotten early rather than stored without end. */
const KEPT_FAILURES = FREE_FAILURES * 2 ** (MAX_BITS - BASE_BITS + 1);
/** Used challenges remembered (until they expire) so none is used twice. */
const KEPT_USED = 100_000;

interface State {
  readonly secret: Buffer;
  readonly failures: number[];
  /**
   * Used challenge → when it expires. Insertion order is nearly expiry order: pruning stops at
   * the first live entry, and KEPT_USED bounds whatever lingers behind it.
   */
  readonly used: Map<string, number>;
}

const STATE = Symbol.for("flame-ts.dashboard.loginThrottle");

function state(): State {
  const store = globalThis as { [STATE]?: State };
  store[STATE] ??= { secret: randomBytes(32), failures: [], used: new Map() };
  return store[STATE];
}

function recentFailures(nowMs: number): number {
  const { failures } = state();
  while (failures.length > 0 && (failures[0] ?? 0) <= nowMs - WINDOW_MS) failures.shift();
  return failures.length;
}

/** Leading zero bits a login's proof needs now; 0 while few wrong tokens were tried. */
export function requiredBits(nowMs = Date.now()): number {
  const failures = recentFailures(nowMs);
  if (failures < FREE_FAILURES) return 0;
  return Math.min(MAX_BITS, BASE_BITS + Math.floor(Math.log2(failures / FREE_FAILURES)));
}

export function recordLoginFailure(nowMs = Date.now()): void {
  const { failures } = state();
  failures.push(nowMs);
  if (failures.length > KEPT_FAILURES) failures.splice(0, failures.length - KEPT_FAILURES);
}

function sign(id: string): string {
  return createHmac("sha256", state().secret).update(id).digest("base64url").slice(0, 22);
}

/** A fresh challenge, signed (the server keeps nothing until it is used), and its bits. */
export function issueChallenge(nowMs = Date.now()): { challenge: string; bits: number } {
  const bits = requiredBits(nowMs);
  const id = `${nowMs.toString(36)}.${bits}.${randomBytes(9).toString("base64url")}`;
  return { challenge: `${id}.${sign(id)}`, bits };
}

export type ProofCheck = "ok" | "missing" | "stale" | "invalid";

/**
 * Checks a login's proof when one is required. The challenge must be this process's, younger
 * than CHALLENGE_TTL_MS, unused, and at least as hard as it was when issued, or as BASE_BITS
 * (so challenges collected while no proof was needed are worth nothing later).
 */
export function checkProof(
  challenge: string | undefined,
  nonce: string | undefined,
  nowMs = Date.now(),
): ProofCheck {
  const required = requiredBits(nowMs);
  if (required === 0) return "ok";
  if (challenge === undefined || nonce === undefined || nonce.length > 20) return "missing";
  const parts = challenge.split(".");
  if (parts.length !== 4) return "invalid";
  const [issued, bitsText, , signature] = parts as [string, string, string, string];
  const expected = Buffer.from(sign(parts.slice(0, 3).join(".")));
  const got = Buffer.from(signature);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return "invalid";
  const issuedMs = Number.parseInt(issued, 36);
  if (!(nowMs - issuedMs <= CHALLENGE_TTL_MS && issuedMs <= nowMs)) return "stale";
  const bits = Number(bitsText);
  if (bits < Math.min(required, BASE_BITS)) return "stale";
  const { used } = state();
  for (const [old, expiresMs] of used) {
    if (expiresMs > nowMs && used.size < KEPT_USED) break;
    used.delete(old);
  }
  if (used.has(challenge)) return "stale";
  const digest = createHash("sha256").update(proofInput(challenge, nonce)).digest();
  if (leadingZeroBits(digest) < bits) return "invalid";
  used.set(challenge, issuedMs + CHALLENGE_TTL_MS);
  return "ok";
}
