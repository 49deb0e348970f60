/**
 * Login sessions, kept on the server: the cookie holds only a random id, and a session is
 * valid while this process holds it. Logout deletes it, so a copied cookie replayed later is
 * refused; each session also records which dashboard token it was opened with, so a changed
 * FLAME_DASHBOARD_TOKEN ends every session (and a restart ends them all: the store is memory).
 * The cookie is HttpOnly and SameSite=Strict; state-changing requests must also come from the
 * page's own origin and carry a CSRF token derived from the session (double protection
 * against cross-site requests).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
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

/**
 * At most this many sessions at once (only the right token opens one); past it the oldest
 * ends, so nothing can make the store grow without bound.
 */
const MAX_SESSIONS = 1_000;

interface Session {
  readonly issuedMs: number;
  /** A hash of the dashboard token it was opened with: a new token ends it. */
  readonly tokenHash: string;
}

const SESSIONS = Symbol.for("flame-ts.dashboard.sessions");

/** Per process, on globalThis: every route module must see the same sessions. */
function sessions(): Map<string, Session> {
  const store = globalThis as { [SESSIONS]?: Map<string, Session> };
  store[SESSIONS] ??= new Map();
  return store[SESSIONS];
}

function tokenHash(): string {
  return createHash("sha256").update(dashboardToken()).digest("base64url");
}

/** Opens a session (after a right token) and returns the cookie's value: 32 random bytes. */
export function newSession(nowMs = Date.now()): string {
  const all = sessions();
  for (const [id, session] of all) {
    if (nowMs - session.issuedMs > SESSION_TTL_MS || all.size >= MAX_SESSIONS) all.delete(id);
    else break; // insertion order is issue order: the rest are younger
  }
  const id = randomBytes(32).toString("base64url");
  all.set(id, { issuedMs: nowMs, tokenHash: tokenHash() });
  return id;
}

/** True for a session this process opened, not ended, younger than SESSION_TTL_MS, same token. */
export function validSession(cookie: string | undefined, nowMs = Date.now()): boolean {
  if (cookie === undefined) return false;
  const session = sessions().get(cookie);
  if (session === undefined) return false;
  if (nowMs - session.issuedMs > SESSION_TTL_MS || !equal(session.tokenHash, tokenHash())) {
    sessions().delete(cookie);
    return false;
  }
  return true;
}

/** Logout: the session ends here, whatever copies of its cookie exist. */
export function endSession(cookie: string | undefined): void {
  if (cookie !== undefined) sessions().delete(cookie);
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
