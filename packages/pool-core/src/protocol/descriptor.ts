/**
 * The parent's side of FLAME_PARENT: the schema and its one validator live in `wire/`, which
 * the runner agent runs too; here a violation becomes the FlameError the pool's API throws.
 */
import { FlameError } from "../errors.js";
import {
  checkDescriptor,
  type DescriptorVerdict,
  encodeDescriptor,
  type ParentDescriptor,
  parseDescriptor,
} from "../wire/descriptor.js";

export function encodeParentDescriptor(descriptor: ParentDescriptor): string {
  // Validate on the way out too: a backend should fail at boot, not leave a runner that exits 1.
  return encodeDescriptor(accepted(checkDescriptor(descriptor)));
}

/** Throws FlameError INVALID_OPTIONS naming the bad field (e.g. `FLAME_PARENT.url`). */
export function decodeParentDescriptor(encoded: string): ParentDescriptor {
  return accepted(parseDescriptor(encoded));
}

function accepted(verdict: DescriptorVerdict): ParentDescriptor {
  if (verdict.ok) return verdict.descriptor;
  throw new FlameError("INVALID_OPTIONS", verdict.violation.message, {
    field: verdict.violation.field,
  });
}
