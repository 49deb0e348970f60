/**
 * The dashboard server's configuration, read from the environment at request time (the
 * `flame-dashboard` bin sets it from its flags):
 *
 * - `FLAME_TELEMETRY_URL`: comma-separated `ws://` / `wss://` telemetry endpoints. A `?token=`
 *   in one is that endpoint's token (kept on the server, never shown).
 * - `FLAME_TELEMETRY_TOKEN`: the token for endpoints that carry none in their URL.
 * - `FLAME_DASHBOARD_TOKEN`: what a browser user types on the login page.
 *
 * Server-only: nothing here may reach the browser except `Upstream.label`.
 */
import { randomBytes } from "node:crypto";

export interface Upstream {
  /** The URL to dial, without its token. */
  readonly url: string;
  /** What the page shows: the URL without token or credentials. */
  readonly label: string;
  /** Sent as `Authorization: Bearer`; undefined when the endpoint has none. */
  readonly token: string | undefined;
}

/** Parses FLAME_TELEMETRY_URL (+ FLAME_TELEMETRY_TOKEN); malformed entries are skipped. */
export function parseUpstreams(
  value: string | undefined,
  sharedToken: string | undefined,
): Upstream[] {
  if (value === undefined) return [];
  const upstreams: Upstream[] = [];
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    if (trimmed.length === 0) continue;
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      continue;
    }
    if (url.protocol !== "ws:" && url.protocol !== "wss:") continue;
    const own = url.searchParams.get("token");
    url.searchParams.delete("token");
    url.username = "";
    url.password = "";
    const token = own !== null && own.length > 0 ? own : sharedToken || undefined;
    upstreams.push({ url: url.toString(), label: url.toString(), token });
  }
  return upstreams;
}

export function upstreams(): Upstream[] {
  return parseUpstreams(process.env.FLAME_TELEMETRY_URL, process.env.FLAME_TELEMETRY_TOKEN);
}

const GENERATED = Symbol.for("flame-ts.dashboard.generatedToken");

/**
 * The token a browser user must present. When FLAME_DASHBOARD_TOKEN is unset (e.g. a bare
 * `next start`), one is generated once per process and printed on the server's console.
 */
export function dashboardToken(): string {
  const fromEnv = process.env.FLAME_DASHBOARD_TOKEN;
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  const store = globalThis as { [GENERATED]?: string };
  if (store[GENERATED] === undefined) {
    store[GENERATED] = randomBytes(18).toString("base64url");
    console.log(
      `[flame-dashboard] FLAME_DASHBOARD_TOKEN is not set; log in with this one-time token: ${store[GENERATED]}`,
    );
  }
  return store[GENERATED];
}
