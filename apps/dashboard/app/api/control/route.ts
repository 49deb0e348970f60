/**
 * POST /api/control: one operator action (drain or kill a runner, resize a pool), carried to
 * the telemetry server by the dashboard's server. Needs a session, the page's own origin and
 * the CSRF token; the telemetry server must run with `control: true`.
 */
import { readBoundedBody, tooLarge } from "../../../lib/server/body-limit";
import { upstreams } from "../../../lib/server/config";
import {
  CSRF_HEADER,
  cookieOf,
  SESSION_COOKIE,
  sameOrigin,
  validCsrf,
  validSession,
} from "../../../lib/server/session";
import { type ControlRequest, control } from "../../../lib/server/upstream";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

/** Recorded as `by` in the pool's control event. */
const ACTOR = "dashboard";

export async function POST(request: Request): Promise<Response> {
  // Before any check, from anyone: an oversized body is refused, declared or streamed, and at
  // most MAX_BODY_BYTES of it is ever read.
  const raw = await readBoundedBody(request);
  if (raw === "too-large") return tooLarge(true);
  const session = cookieOf(request, SESSION_COOKIE);
  if (session === undefined || !validSession(session)) {
    return Response.json(
      { ok: false, detail: "Your session ended: log in again." },
      { status: 401 },
    );
  }
  if (!sameOrigin(request) || !validCsrf(session, request.headers.get(CSRF_HEADER))) {
    return Response.json(
      {
        ok: false,
        detail: "Refused: the request did not come from this dashboard's page (CSRF check).",
      },
      { status: 403 },
    );
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
    if (typeof body !== "object" || body === null) throw new Error("not an object");
  } catch {
    return Response.json({ ok: false, detail: "The request body must be JSON." }, { status: 400 });
  }
  const parsed = parseRequest(body);
  if (typeof parsed === "string")
    return Response.json({ ok: false, detail: parsed }, { status: 400 });
  const upstream = upstreams()[parsed.endpoint];
  if (upstream === undefined) {
    return Response.json(
      { ok: false, detail: `No telemetry endpoint #${parsed.endpoint}.` },
      { status: 400 },
    );
  }
  const result = await control(upstream, parsed.request, ACTOR);
  return Response.json(result, { status: result.ok ? 200 : 409 });
}

function parseRequest(
  body: Record<string, unknown>,
): { endpoint: number; request: ControlRequest } | string {
  const { endpoint, pool, action } = body;
  if (!Number.isInteger(endpoint)) return "`endpoint` must be the endpoint's index.";
  if (typeof pool !== "string" || pool.length === 0) return "`pool` must be a pool name.";
  if (action === "drainRunner" || action === "killRunner") {
    if (typeof body.runnerId !== "string" || body.runnerId.length === 0)
      return "`runnerId` is required.";
    return { endpoint: endpoint as number, request: { action, pool, runnerId: body.runnerId } };
  }
  if (action === "resize") {
    const { min, max } = body;
    if (!Number.isInteger(min) || !Number.isInteger(max))
      return "`min` and `max` must be whole numbers.";
    return {
      endpoint: endpoint as number,
      request: { action, pool, min: min as number, max: max as number },
    };
  }
  return "`action` must be drainRunner, killRunner or resize.";
}
