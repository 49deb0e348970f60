/**
 * POST /api/logout: ends the session on the server (a copy of the cookie is worthless from
 * now on) and clears the browser's cookie. Reads no body.
 */
import {
  clearedSessionCookie,
  cookieOf,
  endSession,
  SESSION_COOKIE,
  sameOrigin,
} from "../../../lib/server/session";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export function POST(request: Request): Response {
  if (!sameOrigin(request)) return new Response("Cross-site request refused.\n", { status: 403 });
  endSession(cookieOf(request, SESSION_COOKIE));
  return new Response(null, {
    status: 303,
    headers: { location: "/login", "set-cookie": clearedSessionCookie() },
  });
}
