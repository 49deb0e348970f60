/** Validation of what a caller passes to `call`, `cast` and `placeChild`. */
import { FlameError } from "../errors.js";
import type { FlameFunction } from "../functions.js";

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

export function callTimeout(value: number | undefined, fallback: number | null): number | null {
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
