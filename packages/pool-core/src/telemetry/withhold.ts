/**
 * What `serveTelemetry` sends of a failure when its failure messages are withheld (the default
 * without a `token`; `errorMessages` in `server-options.ts` says why).
 *
 * A failure's text is whatever a function threw, a backend answered or a runner last printed
 * on stderr: a connection string with `password=…`, a customer's e-mail, a path. Everything
 * else of the event stays (codes, counts, durations, exit codes, whether an exit was expected),
 * so a dashboard without the token still shows that, where and how often things fail.
 */
import type { PoolEvent } from "./events.js";

/** Stands in for each withheld text, so a reader knows why it is not there. */
const WITHHELD_MESSAGE = "(withheld: see serveTelemetry's token and errorMessages)";

/** The event without its failure text; the same object when it carries none. */
export function withholdMessages(event: PoolEvent): PoolEvent {
  switch (event.type) {
    case "callFinished":
      return event.errorMessage === undefined
        ? event
        : { ...event, errorMessage: WITHHELD_MESSAGE };
    case "growEnd":
      return event.error === undefined ? event : { ...event, error: WITHHELD_MESSAGE };
    case "bootFailed":
      return { ...event, error: WITHHELD_MESSAGE };
    case "runnerDown":
    case "shrink":
      // "runner exited (code 1): <its last stderr line>", "link closed: <why>"; a `shrink`
      // repeats the reason of the runner's exit.
      return { ...event, reason: WITHHELD_MESSAGE };
    default:
      // The rest carry no failure text: `runnerKilled` reasons are the pool's own words (did
      // not exit within shutdownTimeout), `control` details answer an operator's action.
      return event;
  }
}
