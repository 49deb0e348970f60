/**
 * POST /api/login: the login form. A right token sets the HttpOnly session cookie.
 * GET /api/login: a proof-of-work challenge for the next attempt, and how hard it is (0 bits
 * while few wrong tokens were tried; see lib/server/login-throttle.ts).
 *
 * Order matters: the body is bounded before anything is parsed, and while a proof is required
 * the token is compared only after the proof checks out.
 */
import { readBoundedBody, tooLarge } from "../../../lib/server/body-limit";
import { checkProof, issueChallenge, recordLoginFailure } from "../../../lib/server/login-throttle";
import { newSession, sameOrigin, sessionCookie, tokenMatches } from "../../../lib/server/session";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export function GET(): Response {
  return Response.json(issueChallenge(), { headers: { "cache-control": "no-store" } });
}

function back(error: string): Response {
  return new Response(null, { status: 303, headers: { location: `/login?error=${error}` } });
}

export async function POST(request: Request): Promise<Response> {
  if (!sameOrigin(request)) return new Response("Cross-site login refused.\n", { status: 403 });
  const body = await readBoundedBody(request);
  if (body === "too-large") return tooLarge(false);
  const form = await new Response(body, {
    headers: { "content-type": request.headers.get("content-type") ?? "" },
  })
    .formData()
    .catch(() => null);
  const field = (name: string) => {
    const value = form?.get(name);
    return typeof value === "string" ? value : undefined;
  };
  const proof = checkProof(field("challenge"), field("nonce"));
  if (proof !== "ok") return back(`proof&why=${proof}`);
  const token = field("token");
  if (token === undefined || !tokenMatches(token)) {
    recordLoginFailure();
    return back("1");
  }
  const secure =
    new URL(request.url).protocol === "https:" ||
    request.headers.get("x-forwarded-proto") === "https";
  return new Response(null, {
    status: 303,
    headers: { location: "/", "set-cookie": sessionCookie(newSession(), secure) },
  });
}
