import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A per-runner secret: 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Constant-time comparison. Both sides are hashed first so inputs of different lengths
 * take the same time and never throw (timingSafeEqual requires equal lengths).
 */
export function tokensEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a, "utf8").digest();
  const db = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}
