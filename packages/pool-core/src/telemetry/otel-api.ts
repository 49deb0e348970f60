/**
 * `@opentelemetry/api`, loaded on first use instead of at import.
 *
 * A runner with no SDK registered never needs it, and loading it was about 45 of the ~160 ms
 * a runner spent loading modules before it could say hello (cold start, issue 7). It is
 * required synchronously (the package's CommonJS build) so no span is ever missed by a
 * late load. The API keeps providers and the context manager on one global symbol, so this
 * copy and the app's own import of the API see the same SDK.
 */
import { createRequire } from "node:module";

type OtelApi = typeof import("@opentelemetry/api");

const require = createRequire(import.meta.url);
let api: OtelApi | undefined;

export function otel(): OtelApi {
  api ??= require("@opentelemetry/api") as OtelApi;
  return api;
}

/** Where every 1.x copy of the API registers globals (its documented global key). */
const GLOBAL_KEY = Symbol.for("opentelemetry.js.api.1");

/**
 * Nothing was ever registered with the API in this process: no SDK and no context manager,
 * so no span can record and none can be active. The hot paths then skip the API entirely.
 */
export function otelUnregistered(): boolean {
  return !(GLOBAL_KEY in globalThis);
}
