/** Validation of what a caller passes to `call`, `cast` and `placeChild`. */

import type { RetryPolicy } from "../core/index.js";
import { FlameError, invalidOption } from "../errors.js";
import type { FlameFunction } from "../functions.js";
import { type ResolvedOptions, type RetryOption, retryPolicy } from "../options/index.js";
import type { Tracked } from "../tracked/types.js";
import { LIMITS } from "../wire/index.js";

export function functionId(fn: FlameFunction<unknown, unknown> | unknown): string {
  const id = (fn as { id?: unknown } | null)?.id;
  if (typeof id !== "string") {
    throw new FlameError(
      "INVALID_OPTIONS",
      "Invalid argument `fn`: expected a function made with defineFunction(id, impl).",
      { field: "fn" },
    );
  }
  return id;
}

function callTimeout(value: number | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `Invalid option \`timeout\`: expected a positive number of milliseconds or Infinity, got ${String(value)}.`,
      { field: "timeout" },
    );
  }
  return value;
}

/** What `call` and `placeChild` take (`cast` takes only `link`). */
export interface CallOptions {
  /** Milliseconds for waiting plus running; defaults to the pool's `timeout`. Infinity = none. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
  /**
   * Retries after a runner loss for this call (`call` only; a child is never retried), instead
   * of the pool's `retry`; `{ runnerDown: 0 }` turns them off. See the pool option.
   */
  readonly retry?: RetryOption;
  /**
   * FLAME's `link`. Default `true`: the caller's signal cancels the work. `false`: the work
   * outlives its caller — `signal` then only answers the caller (ABORTED) while the work goes
   * on, holding its slot until it ends or its own deadline passes; its result is dropped (still
   * counted in telemetry); `drain()` and `stop()` wait for it up to `shutdownTimeout`.
   */
  readonly link?: boolean;
  /**
   * The call's idempotency key, seen by the function as `ctx.idempotencyKey` on every attempt
   * (a non-empty string of at most 255 UTF-8 bytes). Default: a random UUID the pool makes once
   * per call when retries are on; with retries off and no key, the runner makes a unique one.
   */
  readonly idempotencyKey?: string;
  /**
   * Pinned (`call` only): run on the runner that holds this handle's resource, in the thread
   * that holds it, one pinned call at a time per holder (FIFO), in the holder's slot; the
   * function reaches the live value with `ctx.get(handle)`. Fails RESOURCE_GONE (never
   * rerouted) once the handle is released or its runner is gone. Not with `retry` or
   * `link: false`. Default: none (any runner).
   */
  readonly on?: Tracked<unknown>;
}

/** One piece of work as the host carries it: validated options with the pool's defaults. */
export interface WorkSettings {
  readonly fnId: string;
  readonly timeoutMs: number | null;
  readonly signal: AbortSignal | undefined;
  readonly retry: RetryPolicy | null;
  readonly linked: boolean;
  /** The caller's key; undefined: the pool makes one if the call may be retried. */
  readonly idempotencyKey: string | undefined;
  /** The handle a call is pinned to (validated against the pool's book by the host). */
  readonly on: unknown;
}

type PoolDefaults = Pick<ResolvedOptions, "timeoutMs" | "bootTimeoutMs" | "retry">;

export function workSettings(fnId: string, options: CallOptions, o: PoolDefaults): WorkSettings {
  const linked = linkOption(options.link);
  const pinned = options.on !== undefined;
  if (pinned && (options.retry !== undefined || !linked)) {
    const other = options.retry !== undefined ? "`retry`" : "`link: false`";
    throw new FlameError(
      "INVALID_OPTIONS",
      `Invalid option \`on\`: a pinned call can't take ${other} (it runs only where its resource lives, and fails RESOURCE_GONE when that is gone); drop one of the two.`,
      { field: "on" },
    );
  }
  return {
    fnId,
    timeoutMs: callTimeout(options.timeout, o.timeoutMs),
    signal: options.signal,
    // A pinned call is never retried elsewhere: the pool's `retry` does not apply to it.
    retry: pinned
      ? null
      : options.retry === undefined
        ? o.retry
        : retryPolicy("retry", options.retry),
    linked,
    idempotencyKey: keyOption(options.idempotencyKey),
    on: options.on,
  };
}

/** A cast waits up to bootTimeout for a slot and runs with no deadline, no caller, no retry. */
export function castSettings(
  fnId: string,
  options: Pick<CallOptions, "link">,
  o: PoolDefaults,
): WorkSettings {
  const linked = linkOption(options.link);
  const timeoutMs = o.bootTimeoutMs;
  const none = undefined;
  return { fnId, timeoutMs, signal: none, retry: null, linked, idempotencyKey: none, on: none };
}

function keyOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!LIMITS.idempotencyKey.accepts(value)) {
    throw invalidOption("idempotencyKey", LIMITS.idempotencyKey.expected, value);
  }
  return value as string;
}

function linkOption(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== "boolean") {
    throw new FlameError(
      "INVALID_OPTIONS",
      `Invalid option \`link\`: expected true or false, got ${String(value)}.`,
      { field: "link" },
    );
  }
  return value;
}
