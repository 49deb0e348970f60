/**
 * Granted work onto the wire: what a call, a cast or a placed child sends its runner. The
 * outcome comes back through the checkout's reply (`Calls` settles it); nothing here decides.
 */
import type { CoreEvent } from "../core/index.js";
import type { Checkout } from "./checkout.js";
import type { LinkConnection } from "./link-port.js";
import { startChild, withoutDeadline } from "./placed-child.js";

/**
 * Sends granted work `c` on `conn` with the run deadline the core chose. `nowMs` is the clock
 * reading of the batch that granted it; a child is first converted in the core (`dispatch`).
 */
export function sendWork(
  c: Checkout,
  conn: LinkConnection,
  deadlineMs: number | null,
  nowMs: number,
  dispatch: (event: CoreEvent) => void,
): void {
  const traceparent = c.span.traceparent;
  switch (c.kind) {
    case "call": {
      // The wire carries what is left, never an instant: the runner's clock is not ours.
      const timeoutMs = deadlineMs === null ? null : Math.max(0, deadlineMs - nowMs);
      const reply = c.replyFor();
      const opts = {
        timeoutMs,
        traceparent,
        idempotencyKey: c.idempotencyKey,
        attempt: c.attempt + 1,
        on: c.pinGroup,
        onIndex: c.pinIndex,
      };
      c.requestId = conn.request("call", c.fnId, c.input, opts, reply);
      return;
    }
    case "cast":
      c.requestId = conn.request("cast", c.fnId, c.input, withoutDeadline(c), c);
      return;
    case "child":
      dispatch({ type: "convertToChild", checkoutId: c.id, childId: c.id });
      startChild(c, conn);
      return;
  }
}
