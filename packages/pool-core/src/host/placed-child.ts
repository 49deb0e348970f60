/** A placed child (`pool.placeChild`): its handle, and how its work starts on its runner. */
import type { Checkout } from "./checkout.js";
import type { LinkConnection, RequestOptions } from "./link-port.js";

export interface PlacedChild<O> {
  readonly runnerId: string;
  /** Settles when the child ends (its value, REMOTE_ERROR, or RUNNER_DOWN). */
  readonly result: Promise<O>;
  /** Aborts the child's ctx.signal and resolves once it has ended. */
  stop(): Promise<void>;
}

const ignore = (): void => {};

/** Casts and children have no deadline on the wire, and are never retried (one attempt). */
export function withoutDeadline(c: Checkout): RequestOptions {
  return { timeoutMs: null, traceparent: c.span.traceparent, idempotencyKey: c.idempotencyKey };
}

/**
 * Sends a granted child (the core already holds it as one: `convertToChild`). `placeChild`
 * resolves at once with a handle; the child's outcome settles `result`.
 */
export function startChild(c: Checkout, conn: LinkConnection): void {
  const placed = c.onValue;
  const result = new Promise<unknown>((resolve, reject) => {
    c.onValue = resolve;
    c.onError = reject;
  });
  const settled = result.then(ignore, ignore);
  c.requestId = conn.request("child", c.fnId, c.input, withoutDeadline(c), c);
  const stopChild = (): void => {
    if (c.requestId !== null && c.phase === "granted") conn.stopChild(c.requestId);
  };
  const signal = c.signal;
  if (signal !== undefined && c.linked) {
    signal.addEventListener("abort", stopChild, { once: true });
    void settled.then(() => signal.removeEventListener("abort", stopChild));
  }
  // Unlinked and its caller gave up while it waited: the child runs on, nobody holds it.
  if (c.detached) return;
  placed({
    runnerId: conn.runnerId,
    result,
    stop: async () => {
      stopChild();
      await settled;
    },
  } satisfies PlacedChild<unknown>);
}
