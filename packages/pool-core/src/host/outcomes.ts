/** The errors a call's outcome is made of, and the `on` option checked against the pool's book. */
import type { CoreError } from "../core/index.js";
import { FlameError, isFlameError } from "../errors.js";
import type { Pin, TrackedBook } from "../tracked/book.js";
import type { WorkKind } from "./link-port.js";

export function asFlameError(error: unknown): FlameError {
  return isFlameError(error)
    ? error
    : new FlameError("RUNNER_DOWN", String(error), { cause: error });
}

export function coreError(error: CoreError): FlameError {
  return new FlameError(error.code, error.message, {
    ...(error.permanent === true ? { permanent: true } : {}),
  });
}

export function abortedWaiting(): FlameError {
  return new FlameError("ABORTED", "The call was aborted by its signal.");
}

export function abortedError(fnId: string, signal: AbortSignal): FlameError {
  return new FlameError("ABORTED", `Call to "${fnId}" was aborted by its signal.`, {
    cause: signal.reason,
  });
}

export function poolClosing(pool: string): FlameError {
  return new FlameError(
    "POOL_STOPPED",
    `Pool "${pool}" is draining or stopped and takes no new calls, pinned ones included; its tracked resources are released as its runners leave.`,
  );
}

export function resourceGone(fnId: string): FlameError {
  return new FlameError(
    "RESOURCE_GONE",
    `Call to "${fnId}" is pinned to a tracked resource that was released (or lost with its runner); it was not run anywhere. Make the resource again (call the function that tracks it) and pin to the new handle.`,
  );
}

/**
 * Where a call pinned with `on` goes: null when not pinned, "gone" when its handle was
 * released. Throws INVALID_OPTIONS (field `on`) for anything but a handle this pool made, and
 * for a cast or a placed child (calls only).
 */
export function pinOption(
  kind: WorkKind,
  on: unknown,
  book: TrackedBook,
): Pin | "gone" | "closing" | null {
  if (on === undefined) return null;
  const pin = kind === "call" ? book.pin(on) : null;
  if (pin !== null) return pin;
  throw new FlameError(
    "INVALID_OPTIONS",
    kind === "call"
      ? "Invalid option `on`: expected a tracked handle (Tracked) that a call of this pool returned."
      : `Invalid option \`on\`: only a call can be pinned to a tracked resource, not a ${kind === "cast" ? "cast" : "placed child"}.`,
    { field: "on" },
  );
}
