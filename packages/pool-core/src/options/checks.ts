/**
 * The value checks every option group shares. Each throws INVALID_OPTIONS naming `field` and
 * saying what it expected, so a user sees which option to fix and how.
 */
import { invalidOption } from "../errors.js";
import type { Limit } from "../wire/index.js";

/**
 * A value the runner descriptor carries too: checked with wire's rule for it (wire/limits.ts),
 * so an option the pool accepts is never a descriptor a runner refuses.
 */
export function within<T>(field: string, limit: Limit, value: T): T {
  if (!limit.accepts(value)) throw invalidOption(field, limit.expected, value);
  return value;
}

export function integer(field: string, value: unknown, least: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < least) {
    throw invalidOption(field, `an integer ≥ ${least}`, value);
  }
  return value;
}

/** An integer ≥ 0, or Infinity (returned as null: "no bound"). */
export function countOrNever(field: string, value: unknown): number | null {
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalidOption(field, "an integer ≥ 0 or Infinity", value);
  }
  return value;
}

/** A finite number of milliseconds > 0. */
export function duration(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, "a positive number of milliseconds", value);
  }
  return value;
}

/** A number of milliseconds > 0, or Infinity (returned as null: "never"). */
export function durationOrNever(field: string, value: unknown): number | null {
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw invalidOption(field, "a positive number of milliseconds or Infinity", value);
  }
  return value;
}

/** A finite number of milliseconds ≥ 0 (a grace that may be none). */
export function graceMs(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidOption(field, "a number of milliseconds ≥ 0", value);
  }
  return value;
}

export function boolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidOption(field, "true or false", value);
  return value;
}

/** An optional callback: null when absent. */
export function hook<F>(field: string, value: F | undefined): F | null {
  if (value === undefined) return null;
  if (typeof value !== "function") throw invalidOption(field, "a function", value);
  return value;
}

/**
 * A nested option object, `{}` when absent. `shape` lists its fields for the error message,
 * e.g. "{ intervalMs?, timeoutMs? }".
 */
export function group<T extends object>(field: string, value: T | undefined, shape: string): T {
  const g = value ?? ({} as T);
  if (typeof g !== "object" || g === null) throw invalidOption(field, `an object ${shape}`, g);
  return g;
}
