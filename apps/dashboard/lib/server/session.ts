/**
 * Login sessions without server state: the cookie holds an issue time and an HMAC of it keyed
 * by the dashboard token (so changing the token logs everyone out). The cookie is HttpOnly and
 * SameSite=Strict; state-changing requests must also come from the page's own origin and carry
 * a CSRF token derived from the session (double protection against cross-site requests).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { dashboardToken } from "./config";

export const SESSION_COOKIE = "flame_session";
/** A session lasts 12 hours. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1_000;
export const CSRF_HEADER = "x-flame-csrf";

function mac(purpose: string, value: string): string {
  return createHmac("sha256", dashboardToken()).update(`${purpose}:${value}`).digest("base64url");
}

function equal(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** Constant-time check of what the user typed on the login page. */
export function tokenMatches(candidate: string): boolean {
  const expected = createHmac("sha256", "compare").update(dashboardToken()).digest();
  const got = createHmac("sha256", "compare").update(candidate).digest();
  return timingSafeEqual(expected, got);
}

export function newSession(nowMs = Date.now()): string {
  const issued = String(nowMs);
  return `${issued}.${mac("session", issued)}`;
}

/** True for a cookie this server issued (with the current token) less than SESSION_TTL_MS ago. */
export function validSession(cookie: string | undefined, nowMs = Date.now()): boolean {
  if (cookie === undefined) return false;
  const [issued, signature] = cookie.split(".");
  if (issued === undefined || signature === undefined) return false;
  const issuedMs = Number(issued);
  if (
    !Number.isFinite(issuedMs) ||
    nowMs - issuedMs > SESSION_TTL_MS ||
    issuedMs > nowMs + 60_000
  ) {
    return false;
  }
  return equal(signature, mac("session", issued));
}

export function csrfFor(session: string): string {
  return mac("csrf", session);
}

export function validCsrf(session: string, candidate: string | null): boolean {
  return candidate !== null && equal(candidate, csrfFor(session));
}

/** Reads one cookie from a request's Cookie header. */
export function cookieOf(request: Request, name: string): string | undefined {
  const header = request.headers.get("cookie");
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

/**
 * True when a state-changing request comes from this dashboard's own pages: browsers send
 * `Origin` on POST (and `Sec-Fetch-Site`), so a cross-site form or fetch is refused.
 */
export function sameOrigin(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  const origin = request.headers.get("origin");
  if (origin === null) return site === "same-origin";
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function sessionCookie(value: string, secure: boolean): string {
  const attrs = [
    `${SESSION_COOKIE}=${value}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${Math.floor(SESSION_TTL_MS / 1_000)}`,
  ];
  if (secure) attrs.push("Secure");
  return attrs.join("; ");
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}
