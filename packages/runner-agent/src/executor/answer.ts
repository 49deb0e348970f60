/**
 * Runs one function and encodes its answer frame: shared by the worker threads and the
 * inline executor, so both answer exactly alike.
 */
import {
  type Codec,
  encodeFrame,
  FlameError,
  type FunctionContext,
  isPromiseLike,
  lookupFunction,
  type RunnerToParent,
  remoteSpanNeeded,
  runWithRemoteParent,
  toWireError,
} from "@flame-ts/pool-core/protocol";
import type { WireError, WorkKind } from "@flame-ts/pool-core/wire";

export interface AnswerSettings {
  readonly codec: Codec;
  readonly maxFrameBytes: number;
  readonly runnerId: string;
}

/** Decodes the input, runs `fn`, and calls `done` once with the encoded answer frame. */
export function runToFrame(
  settings: AnswerSettings,
  kind: WorkKind,
  id: number,
  fnId: string,
  input: Uint8Array,
  ctx: FunctionContext,
  traceparent: string | undefined,
  done: (frame: Uint8Array) => void,
): void {
  const fn = lookupFunction(fnId);
  if (fn === undefined) {
    done(errorFrame(settings, kind, id, unknownFunction(fnId, settings.runnerId)));
    return;
  }
  let args: unknown;
  try {
    args = settings.codec.decode(input);
  } catch (error) {
    done(errorFrame(settings, kind, id, toWireError(error, "SERIALIZATION")));
    return;
  }
  let outcome: unknown;
  try {
    // The runner's span continues the caller's trace; skipped when there is nothing to record.
    outcome = remoteSpanNeeded(traceparent)
      ? runWithRemoteParent(traceparent, "flame.run", () => fn.impl(args, ctx), {
          "flame.function": fnId,
          "flame.call.kind": kind,
          "flame.runner.id": settings.runnerId,
        })
      : fn.impl(args, ctx);
  } catch (error) {
    done(errorFrame(settings, kind, id, toWireError(error)));
    return;
  }
  if (isPromiseLike(outcome)) {
    outcome.then(
      (value) => done(valueFrame(settings, kind, id, value)),
      (error: unknown) => done(errorFrame(settings, kind, id, toWireError(error))),
    );
  } else {
    done(valueFrame(settings, kind, id, outcome));
  }
}

function valueFrame(s: AnswerSettings, kind: WorkKind, id: number, value: unknown): Uint8Array {
  const msg: RunnerToParent =
    kind === "call"
      ? { t: "result", id, ok: true, value }
      : kind === "cast"
        ? { t: "cast.done", id, ok: true }
        : { t: "child.exit", id, ok: true, value };
  try {
    return encodeFrame(msg, s.codec, s.maxFrameBytes);
  } catch (error) {
    // The result can't travel: fail this call only.
    return errorFrame(s, kind, id, toWireError(error, "SERIALIZATION"));
  }
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

function unknownFunction(fnId: string, runnerId: string): WireError {
  const e = new FlameError("UNKNOWN_FUNCTION", `runner ${runnerId} does not define "${fnId}"`);
  return { code: e.code, name: e.name, message: e.message };
}
