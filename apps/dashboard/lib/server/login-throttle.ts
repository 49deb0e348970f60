/**
 * Slows down token guessing on the login form: after `MAX_FAILURES` wrong tokens within
 * `WINDOW_MS`, every login is refused until the oldest failure leaves the window. Per process
 * (kept on globalThis so every route module shares it). A right token does not clear the
 * count: it only ages out.
 */
export const MAX_FAILURES = 10;
export const WINDOW_MS = 60_000;

const FAILURES = Symbol.for("flame-ts.dashboard.loginFailures");

function failures(): number[] {
  const store = globalThis as { [FAILURES]?: number[] };
  store[FAILURES] ??= [];
  return store[FAILURES];
}

/** Ms to wait before the next attempt is taken; 0 when one may be tried now. */
export function loginRetryAfterMs(nowMs = Date.now()): number {
  const list = failures();
  while (list.length > 0 && (list[0] ?? 0) <= nowMs - WINDOW_MS) list.shift();
  if (list.length < MAX_FAILURES) return 0;
  return (list[0] ?? nowMs) + WINDOW_MS - nowMs;
}

export function recordLoginFailure(nowMs = Date.now()): void {
  const list = failures();
  list.push(nowMs);
  if (list.length > MAX_FAILURES) list.splice(0, list.length - MAX_FAILURES);
}
