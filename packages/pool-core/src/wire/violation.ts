/**
 * What a validator here reports instead of throwing: `wire/` depends on nothing, so the agent's
 * cold start can check its descriptor before it loads the rest of pool-core. The parent turns
 * a violation into FlameError INVALID_OPTIONS; the agent prints it and exits BAD_CONFIG.
 */
export interface Violation {
  /** The option path that is wrong, e.g. `FLAME_PARENT.maxFrameBytes`. */
  readonly field: string;
  /** The whole sentence, the same on both ends. */
  readonly message: string;
}

export function violation(field: string, expected: string, got: unknown): Violation {
  return { field, message: invalidOptionMessage(field, expected, got) };
}

/** The sentence every INVALID_OPTIONS error says. */
export function invalidOptionMessage(field: string, expected: string, got: unknown): string {
  return `Invalid option \`${field}\`: expected ${expected}, got ${describeValue(got)}.`;
}

/** A value as an error message shows it: short, and never the content of an object. */
function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  if (typeof value === "function") return "a function";
  return Array.isArray(value) ? "an array" : `a ${typeof value}`;
}
