/** POST /api/logout: ends the session. */
import { clearedSessionCookie, sameOrigin } from "../../../lib/server/session";

export const dynamic = "force-dynamic";

export function POST(request: Request): Response {
  if (!sameOrigin(request)) return new Response("Cross-site request refused.\n", { status: 403 });
  return new Response(null, {
    status: 303,
    headers: { location: "/login", "set-cookie": clearedSessionCookie() },
  });
}
