/**
 * The first frames of an authenticated runner socket, judged for RunnerServer: `hello` (its
 * functions), or, from protocol 8, `loading` first when its entry module is still loading, then
 * `hello`. And the boot error of a runner the pool stopped waiting for, which names the entry
 * it was still loading.
 */
import type { RawData } from "ws";
import { FlameError } from "../errors.js";
import type { Codec } from "../protocol/codec.js";
import { decodeFrame } from "../protocol/frame.js";
import { PROTOCOL_VERSION, type RunnerToParent } from "../protocol/messages.js";

type Hello = Extract<RunnerToParent, { t: "hello" }>;
type Loading = Extract<RunnerToParent, { t: "loading" }>;

export type Opening =
  | { readonly ok: true; readonly msg: Hello | Loading }
  /** `otherProtocol`: the runner can never work with this parent (fail its boot at once). */
  | { readonly ok: false; readonly why: string; readonly otherProtocol: boolean };

/**
 * One opening frame of `runnerId` (the id its upgrade authenticated). `mayLoad`: a `loading`
 * is accepted (first frame only; after it, only `hello`).
 */
export function judgeOpening(
  data: RawData,
  isBinary: boolean,
  runnerId: string,
  mayLoad: boolean,
  codec: Codec,
  maxFrameBytes: number,
): Opening {
  const refused = (why: string, otherProtocol = false): Opening => ({
    ok: false,
    why,
    otherProtocol,
  });
  if (!isBinary || !Buffer.isBuffer(data)) return refused("first frame must be a binary hello");
  const decoded = decodeFrame(data, codec, maxFrameBytes);
  if (!decoded.ok) return refused(`bad hello: ${decoded.message}`);
  const { msg } = decoded;
  if (msg.t !== "hello" && !(mayLoad && msg.t === "loading")) {
    return refused(`expected ${mayLoad ? "hello or loading" : "hello"}, got ${msg.t}`);
  }
  const opening = msg as Hello | Loading;
  if (opening.runnerId !== runnerId) {
    return refused(
      `${opening.t} names runner ${opening.runnerId}, the upgrade authenticated ${runnerId}`,
    );
  }
  if (opening.protocol !== PROTOCOL_VERSION) {
    return refused(
      `runner speaks protocol ${opening.protocol}, parent speaks ${PROTOCOL_VERSION}`,
      true,
    );
  }
  return { ok: true, msg: opening };
}

/**
 * Why `expect` stopped waiting for `runnerId`: the signal's FlameError (the core's boot deadline
 * says which bound passed), BOOT_FAILED for a timeout, else ABORTED. `loading`: the runner said
 * it was still loading this entry (null: it named none), so the error says what it waited on.
 */
export function bootAbortError(
  runnerId: string,
  signal: AbortSignal,
  loading: { readonly entry: string | null } | null,
): FlameError {
  const error = abortError(runnerId, signal);
  if (loading === null || error.code !== "BOOT_FAILED") return error;
  const entry = loading.entry ?? "(no entry module)";
  return new FlameError(
    "BOOT_FAILED",
    `${error.message}; it was still loading its entry ${entry} (its top-level code had not finished)`,
    { cause: error, runnerId },
  );
}

function abortError(runnerId: string, signal: AbortSignal): FlameError {
  const reason: unknown = signal.reason;
  if (reason instanceof FlameError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new FlameError("BOOT_FAILED", `Runner ${runnerId} did not say hello in time.`, {
      cause: reason,
      runnerId,
    });
  }
  return new FlameError("ABORTED", `Stopped waiting for runner ${runnerId} to say hello.`, {
    cause: reason,
    runnerId,
  });
}
