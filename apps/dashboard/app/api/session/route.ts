/** GET /api/session: 204 while the session is valid, 401 after (the page then shows the login). */
import { cookieOf, SESSION_COOKIE, validSession } from "../../../lib/server/session";

export const dynamic = "force-dynamic";

export function GET(request: Request): Response {
  return new Response(null, {
    status: validSession(cookieOf(request, SESSION_COOKIE)) ? 204 : 401,
  });
}
