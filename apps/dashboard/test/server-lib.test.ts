/** The dashboard server's own pieces: endpoint parsing, sessions, CSRF and origin checks. */

import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { leadingZeroBits, sha256, solveProof } from "../lib/login-proof.js";
import { parseUpstreams } from "../lib/server/config.js";
import {
  BASE_BITS,
  checkProof,
  FREE_FAILURES,
  issueChallenge,
  MAX_BITS,
  recordLoginFailure,
  requiredBits,
  WINDOW_MS,
} from "../lib/server/login-throttle.js";
import {
  csrfFor,
  endSession,
  newSession,
  SESSION_TTL_MS,
  sameOrigin,
  sessionCookie,
  tokenMatches,
  validCsrf,
  validSession,
} from "../lib/server/session.js";

describe("dashboard server config", () => {
  it("parses endpoints, keeps their tokens on the server and shows labels without them", () => {
    expect(parseUpstreams(undefined, undefined)).toEqual([]);
    expect(
      parseUpstreams(
        " ws://127.0.0.1:4000/ , nope, http://x/ ,wss://u:p@h:1/?token=own ",
        "shared",
      ),
    ).toEqual([
      { url: "ws://127.0.0.1:4000/", label: "ws://127.0.0.1:4000/", token: "shared" },
      { url: "wss://h:1/", label: "wss://h:1/", token: "own" },
    ]);
    expect(parseUpstreams("ws://a:1", undefined)[0]?.token).toBeUndefined();
  });
});

describe("dashboard sessions", () => {
  const saved = process.env.FLAME_DASHBOARD_TOKEN;
  beforeEach(() => {
    process.env.FLAME_DASHBOARD_TOKEN = "let-me-in";
  });
  afterEach(() => {
    process.env.FLAME_DASHBOARD_TOKEN = saved;
  });

  it("accepts only the dashboard token, and only sessions it opened and did not end, for 12 hours", () => {
    expect(tokenMatches("let-me-in")).toBe(true);
    expect(tokenMatches("let-me-i")).toBe(false);
    const now = 1_700_000_000_000;
    const session = newSession(now);
    expect(validSession(session, now + 1_000)).toBe(true);
    expect(validSession(session, now + SESSION_TTL_MS + 1)).toBe(false);
    expect(validSession(`${now}.forged`, now)).toBe(false);
    expect(validSession(undefined, now)).toBe(false);
    // Logout ends it on the server: the same cookie is refused from then on.
    const ended = newSession(now);
    endSession(ended);
    expect(validSession(ended, now + 1_000)).toBe(false);
    // A new token logs every session out.
    process.env.FLAME_DASHBOARD_TOKEN = "rotated";
    expect(validSession(session, now + 1_000)).toBe(false);
  });

  it("ties the CSRF token to the session and sets an HttpOnly, SameSite=Strict cookie", () => {
    const a = newSession(1);
    const b = newSession(2);
    expect(validCsrf(a, csrfFor(a))).toBe(true);
    expect(validCsrf(a, csrfFor(b))).toBe(false);
    expect(validCsrf(a, null)).toBe(false);
    expect(sessionCookie(a, true)).toMatch(/HttpOnly; SameSite=Strict;.*Secure$/);
    expect(sessionCookie(a, false)).not.toMatch(/Secure/);
  });

  it("refuses cross-site requests", () => {
    const req = (headers: Record<string, string>) =>
      new Request("http://127.0.0.1:3000/api/control", { method: "POST", headers });
    expect(sameOrigin(req({ host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" }))).toBe(true);
    expect(sameOrigin(req({ host: "127.0.0.1:3000", origin: "https://evil.example" }))).toBe(false);
    expect(
      sameOrigin(
        req({
          host: "127.0.0.1:3000",
          origin: "http://127.0.0.1:3000",
          "sec-fetch-site": "cross-site",
        }),
      ),
    ).toBe(false);
    expect(sameOrigin(req({ host: "127.0.0.1:3000" }))).toBe(false);
  });
});

describe("login throttle", () => {
  it("asks for no proof until FREE_FAILURES wrong tokens, then more work as they pile up", () => {
    const t0 = 5_000_000;
    expect(requiredBits(t0)).toBe(0);
    expect(checkProof(undefined, undefined, t0)).toBe("ok");
    for (let i = 0; i < FREE_FAILURES - 1; i++) recordLoginFailure(t0);
    expect(requiredBits(t0)).toBe(0);
    recordLoginFailure(t0);
    expect(requiredBits(t0)).toBe(BASE_BITS);
    for (let i = 0; i < FREE_FAILURES; i++) recordLoginFailure(t0);
    expect(requiredBits(t0)).toBe(BASE_BITS + 1);
    for (let i = 0; i < 100 * FREE_FAILURES; i++) recordLoginFailure(t0);
    expect(requiredBits(t0)).toBe(MAX_BITS);
    // Failures age out of the window: logins are free again.
    expect(requiredBits(t0 + WINDOW_MS)).toBe(0);
  });

  it("takes only a fresh, unused, solved challenge of its own while a proof is needed", async () => {
    const t0 = 9_000_000;
    for (let i = 0; i < FREE_FAILURES; i++) recordLoginFailure(t0);
    const { challenge, bits } = issueChallenge(t0);
    expect(bits).toBe(BASE_BITS);
    expect(checkProof(undefined, undefined, t0)).toBe("missing");
    const nonce = await solveProof(challenge, bits);
    expect(checkProof(challenge, String(Number(nonce) + 1), t0)).not.toBe("ok");
    expect(checkProof(`${challenge}x`, nonce, t0)).toBe("invalid");
    expect(checkProof(challenge, nonce, t0 + 1_000)).toBe("ok");
    expect(checkProof(challenge, nonce, t0 + 1_000)).toBe("stale"); // once only
    const late = issueChallenge(t0);
    expect(
      checkProof(late.challenge, await solveProof(late.challenge, bits), t0 + WINDOW_MS - 1),
    ).toBe("ok");
    // One collected while no proof was needed is worth nothing once one is.
    const free = issueChallenge(t0 + 10 * WINDOW_MS);
    expect(free.bits).toBe(0);
    for (let i = 0; i < FREE_FAILURES; i++) recordLoginFailure(t0 + 10 * WINDOW_MS);
    expect(checkProof(free.challenge, "0", t0 + 10 * WINDOW_MS)).toBe("stale");
  });

  it("hashes in the browser exactly as the server does", () => {
    for (const text of ["", "abc", "a".repeat(55), "a".repeat(56), "x".repeat(130)]) {
      expect(Buffer.from(sha256(text)).toString("hex")).toBe(
        createHash("sha256").update(text).digest("hex"),
      );
    }
    expect(leadingZeroBits(new Uint8Array([0, 0x10, 0xff]))).toBe(11);
  });
});
