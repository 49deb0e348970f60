/**
 * Every failure a user of flame-ts can see is a `FlameError` with one of these codes.
 * The codes are part of the public contract (ARCHITECTURE.md, "Public API").
 */
import { invalidOptionMessage } from "./wire/violation.js";

export const FLAME_ERROR_CODES = [
  "TIMEOUT",
  "RUNNER_DOWN",
  "REMOTE_ERROR",
  "BOOT_FAILED",
  "POOL_STOPPED",
  "INVALID_OPTIONS",
  "UNKNOWN_FUNCTION",
  "SERIALIZATION",
  "ABORTED",
  "UNAUTHORIZED",
  "PROTOCOL",
  "OVERLOADED",
  "BUDGET_EXHAUSTED",
  "RESOURCE_GONE",
] as const;

export type FlameErrorCode = (typeof FLAME_ERROR_CODES)[number];

/** The remote side of a `REMOTE_ERROR`: what the function threw on the runner. */
export interface RemoteErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
}

export interface FlameErrorOptions {
  readonly cause?: unknown;
  /** For INVALID_OPTIONS: the option path that is wrong, e.g. `"maxConcurrency"`. */
  readonly field?: string;
  /** For REMOTE_ERROR: the error as thrown on the runner. */
  readonly remote?: RemoteErrorInfo;
  readonly runnerId?: string;
  /**
   * For BOOT_FAILED raised by a backend: true when retrying cannot help (image or entry
   * missing, bad configuration), so the pool fails the waiting callers at once instead of
   * retrying; false or absent for a transient failure (capacity, rate limit, network).
   */
  readonly permanent?: boolean;
}

export class FlameError extends Error {
  override readonly name = "FlameError";
  readonly code: FlameErrorCode;
  readonly field: string | undefined;
  readonly remote: RemoteErrorInfo | undefined;
  readonly runnerId: string | undefined;
  /** See `FlameErrorOptions.permanent`. */
  readonly permanent: boolean;

  constructor(code: FlameErrorCode, message: string, options: FlameErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.remote = options.remote;
    this.runnerId = options.runnerId;
    this.permanent = options.permanent === true;
  }
}

/** A FlameError whose `code` is known to be `C` (what `isFlameError(value, code)` proves). */
export type FlameErrorWithCode<C extends FlameErrorCode> = FlameError & { readonly code: C };

/** Whether `value` is a FlameError (with `code`, when given: then `value.code` narrows to it). */
export function isFlameError(value: unknown): value is FlameError;
export function isFlameError<C extends FlameErrorCode>(
  value: unknown,
  code: C | undefined,
): value is FlameErrorWithCode<C>;
export function isFlameError(value: unknown, code?: FlameErrorCode): value is FlameError {
  return value instanceof FlameError && (code === undefined || value.code === code);
}

/**
 * Shorthand for the option-validation error: names the field and says what is expected, in
 * the words the runner agent uses for a bad FLAME_PARENT too (wire/violation.ts).
 */
export function invalidOption(field: string, expected: string, got: unknown): FlameError {
  return new FlameError("INVALID_OPTIONS", invalidOptionMessage(field, expected, got), { field });
}
