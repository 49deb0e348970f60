/**
 * Runs one function and encodes its answer frame: shared by the worker threads and the
 * inline executor, so both answer exactly alike, tracked values included (tracked-table.ts):
 * a pinned call runs only while its group is held, and when a call settles, the values its
 * result carries are kept and the others disposed.
 */
import {
  type Codec,
  encodeFrame,
  FlameError,
  isPromiseLike,
  lookupFunction,
  type RunnerToParent,
  remoteSpanNeeded,
  runWithRemoteParent,
  toWireError,
} from "@flame-ts/pool-core/protocol";
import type { WireError, WorkKind } from "@flame-ts/pool-core/wire";
import { type CallContext, sealContext } from "./context.js";
import type { TrackedTable } from "./tracked-table.js";

export interface AnswerSettings {
  readonly codec: Codec;
  readonly maxFrameBytes: number;
  readonly runnerId: string;
}

/** What runToFrame runs: one task as the executor received it. */
export interface RunnableTask {
  readonly id: number;
  readonly kind: WorkKind;
  readonly fn: string;
  readonly input: Uint8Array;
  /**
   * The input's whole buffer is this call's frame alone, handed to this thread for good (a
   * large input transferred apart, batch.ts): the codec may leave large binary values as
   * views into it instead of copying them (Codec.decodeOwned).
   */
  readonly inputOwned?: boolean;
  readonly traceparent: string | undefined;
  readonly on?: number | undefined;
}

/** What `done` receives: the answer frame and the indices of the tracked values it carries. */
type Done = (frame: Uint8Array, tracked: readonly number[]) => void;

const NONE: readonly number[] = [];

/**
 * Decodes the input, runs `fn`, and calls `done` once with the encoded answer frame. A pinned
 * call whose group `table` no longer holds answers RESOURCE_GONE without running.
 */
export function runToFrame(
  settings: AnswerSettings,
  task: RunnableTask,
  ctx: CallContext,
  table: TrackedTable,
  done: Done,
): void {
  const { kind, id, fn: fnId, on } = task;
  const fn = lookupFunction(fnId);
  if (fn === undefined) {
    done(errorFrame(settings, kind, id, unknownFunction(fnId, settings.runnerId)), NONE);
    return;
  }
  if (on !== undefined && !table.holds(on)) {
    done(errorFrame(settings, kind, id, resourceGone(on, settings.runnerId)), NONE);
    return;
  }
  let args: unknown;
  try {
    const { codec } = settings;
    args =
      task.inputOwned === true && codec.decodeOwned !== undefined
        ? codec.decodeOwned(task.input)
        : codec.decode(task.input);
  } catch (error) {
    done(errorFrame(settings, kind, id, toWireError(error, "SERIALIZATION")), NONE);
    return;
  }
  if (on !== undefined) table.pinnedStarted(on);
  const settle = (ok: boolean, valueOrError: unknown): void => {
    sealContext(ctx);
    if (ok) {
      const answer = valueFrame(settings, table, kind, id, valueOrError);
      done(answer.frame, answer.tracked);
    } else {
      table.discard(id);
      done(errorFrame(settings, kind, id, toWireError(valueOrError)), NONE);
    }
    // After the answer is handed on: a release that waited for this call goes out behind it.
    if (on !== undefined) table.pinnedEnded(on);
  };
  let outcome: unknown;
  try {
    // The runner's span continues the caller's trace; skipped when there is nothing to record.
    outcome = remoteSpanNeeded(task.traceparent)
      ? runWithRemoteParent(task.traceparent, "flame.run", () => fn.impl(args, ctx), {
          "flame.function": fnId,
          "flame.call.kind": kind,
          "flame.runner.id": settings.runnerId,
        })
      : fn.impl(args, ctx);
  } catch (error) {
    settle(false, error);
    return;
  }
  if (isPromiseLike(outcome)) {
    outcome.then(
      (value) => settle(true, value),
      (error: unknown) => settle(false, error),
    );
  } else {
    settle(true, outcome);
  }
}

/**
 * The ok answer; for a call, flagged `tracked` when it carries references to values it tracked
 * (kept; the others are disposed). A value that can't be encoded fails the call (SERIALIZATION)
 * and disposes all it tracked.
 */
function valueFrame(
  s: AnswerSettings,
  table: TrackedTable,
  kind: WorkKind,
  id: number,
  value: unknown,
): { readonly frame: Uint8Array; readonly tracked: readonly number[] } {
  const tracked = kind === "call" ? table.carriedBy(id, value) : NONE;
  const msg: RunnerToParent =
    kind === "call"
      ? tracked.length > 0
        ? { t: "result", id, ok: true, value, tracked: true }
        : { t: "result", id, ok: true, value }
      : kind === "cast"
        ? { t: "cast.done", id, ok: true }
        : { t: "child.exit", id, ok: true, value };
  let frame: Uint8Array;
  try {
    frame = encodeFrame(msg, s.codec, s.maxFrameBytes);
  } catch (error) {
    // The result can't travel: fail this call only.
    table.discard(id);
    return { frame: errorFrame(s, kind, id, toWireError(error, "SERIALIZATION")), tracked: NONE };
  }
  table.keep(id, tracked);
  return { frame, tracked };
}

/** The answer frame carrying `error` (never throws: wire errors are always encodable). */
export function errorFrame(
  s: { readonly codec: Codec; readonly maxFrameBytes: number },
  kind: WorkKind,
  id: number,
  error: WireError,
): Uint8Array {
  return encodeFrame(errorMessage(kind, id, error, false), s.codec, s.maxFrameBytes);
}

/**
 * The answer message carrying `error`. `answeredEarly`: the work goes on for now (past its
 * deadline, or the runner is leaving); its slot stays held until `ended` says it stopped.
 */
export function errorMessage(
  kind: WorkKind,
  id: number,
  error: WireError,
  answeredEarly: boolean,
): RunnerToParent {
  const t = kind === "call" ? "result" : kind === "cast" ? "cast.done" : "child.exit";
  return answeredEarly
    ? { t, id, ok: false, error, answeredEarly: true }
    : { t, id, ok: false, error };
}

function resourceGone(group: number, runnerId: string): WireError {
  const e = new FlameError(
    "RESOURCE_GONE",
    `runner ${runnerId} no longer holds the tracked values of call ${group} (released, or lost with their thread)`,
  );
  return { code: e.code, name: e.name, message: e.message };
}

function unknownFunction(fnId: string, runnerId: string): WireError {
  const e = new FlameError("UNKNOWN_FUNCTION", `runner ${runnerId} does not define "${fnId}"`);
  return { code: e.code, name: e.name, message: e.message };
}
