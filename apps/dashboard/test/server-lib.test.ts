/** The dashboard server's own pieces: endpoint parsing, sessions, CSRF and origin checks. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseUpstreams } from "../lib/server/config.js";
import {
  loginRetryAfterMs,
  MAX_FAILURES,
  recordLoginFailure,
  WINDOW_MS,
} from "../lib/server/login-throttle.js";
import {
  csrfFor,
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

  it("accepts only the dashboard token, and only sessions it signed, for 12 hours", () => {
    expect(tokenMatches("let-me-in")).toBe(true);
    expect(tokenMatches("let-me-i")).toBe(false);
    const now = 1_700_000_000_000;
    const session = newSession(now);
    expect(validSession(session, now + 1_000)).toBe(true);
    expect(validSession(session, now + SESSION_TTL_MS + 1)).toBe(false);
    expect(validSession(`${now}.forged`, now)).toBe(false);
    expect(validSession(undefined, now)).toBe(false);
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
  it("refuses logins for the rest of the window after MAX_FAILURES wrong tokens", () => {
    const t0 = 5_000_000;
    expect(loginRetryAfterMs(t0)).toBe(0);
    for (let i = 0; i < MAX_FAILURES - 1; i++) recordLoginFailure(t0 + i);
    expect(loginRetryAfterMs(t0 + 100)).toBe(0);
    recordLoginFailure(t0 + 100);
    expect(loginRetryAfterMs(t0 + 100)).toBe(WINDOW_MS - 100);
    // The oldest failure ages out: one more try is allowed.
    expect(loginRetryAfterMs(t0 + WINDOW_MS)).toBe(0);
  });
});
