/** What the parent sends to ask a runner for work: a request's options, as its wire envelope. */
import { FlameError } from "../errors.js";
import type { WorkEnvelope } from "../protocol/work-frame.js";
import type { WorkKind } from "./pending.js";

/** What `request` needs besides the function and its input; absent fields are explicit. */
export interface RequestOptions {
  /** Ms the call may run from now (calls only; ignored for casts and children). null = none. */
  readonly timeoutMs: number | null;
  readonly traceparent: string | undefined;
  /** ctx.idempotencyKey; absent: none sent, the runner makes one (no retries to match). */
  readonly idempotencyKey?: string | undefined;
  /** ctx.attempt: 1 (the default) for the first attempt, 2 for the first retry, … */
  readonly attempt?: number;
  /** Calls only: pinned to the tracked resources of call `on` (its id on this link). */
  readonly on?: number | undefined;
  /** With `on`: which of those values is `ctx.resource`. */
  readonly onIndex?: number | undefined;
}

export function unknownFunction(runnerId: string, fn: string, reported: number): FlameError {
  return new FlameError(
    "UNKNOWN_FUNCTION",
    `Runner ${runnerId} does not define "${fn}" (it reported ${reported} functions). Make sure the runner's entry module imports the module that calls defineFunction("${fn}", ...), and that parent and runners run the same code version.`,
    { runnerId },
  );
}

/** The wire message for a request; `traceparent` only when there is a trace to continue. */
export function requestEnvelope(
  kind: WorkKind,
  id: number,
  fn: string,
  timeoutMs: number | null,
  { traceparent, idempotencyKey, attempt, on, onIndex }: RequestOptions,
): WorkEnvelope {
  const t = kind === "child" ? "child.start" : kind;
  const envelope: WorkEnvelope = {
    t,
    id,
    fn,
    timeoutMs,
    traceparent,
    idempotencyKey,
    attempt: attempt ?? 1,
  };
  return kind === "call" && on !== undefined ? { ...envelope, on, onIndex } : envelope;
}
