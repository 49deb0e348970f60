import { expect } from "vitest";
import { FlameError } from "../../src/errors.js";

/** The FlameError `p` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(p: Promise<unknown>): Promise<FlameError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FlameError);
    return err as FlameError;
  }
  throw new Error("expected a rejection");
}
