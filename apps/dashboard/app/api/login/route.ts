/** POST /api/login: the login form. A right token sets the HttpOnly session cookie. */
import { loginRetryAfterMs, recordLoginFailure } from "../../../lib/server/login-throttle";
import { newSession, sameOrigin, sessionCookie, tokenMatches } from "../../../lib/server/session";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(request: Request): Promise<Response> {
  if (!sameOrigin(request)) return new Response("Cross-site login refused.\n", { status: 403 });
  const waitMs = loginRetryAfterMs();
  if (waitMs > 0) {
    return new Response(null, {
      status: 303,
      headers: { location: `/login?error=throttled&wait=${Math.ceil(waitMs / 1_000)}` },
    });
  }
  const form = await request.formData().catch(() => null);
  const token = form?.get("token");
  if (typeof token !== "string" || !tokenMatches(token)) {
    recordLoginFailure();
    return new Response(null, { status: 303, headers: { location: "/login?error=1" } });
  }
  const secure =
    new URL(request.url).protocol === "https:" ||
    request.headers.get("x-forwarded-proto") === "https";
  return new Response(null, {
    status: 303,
    headers: { location: "/", "set-cookie": sessionCookie(newSession(), secure) },
  });
}
