/**
 * How a tracked resource is named on the wire. Inside a function, `ctx.track(value, dispose)`
 * keeps `value` on the runner and returns a reference: an object whose only own enumerable
 * property is `TRACKED_KEY`, so any codec carries it (v8 and JSON keep own enumerable
 * properties and drop prototypes). The parent turns each such object found in a call's result
 * into a `Tracked` handle, which carries the same property, so the handle can travel back in
 * a pinned call's input and `ctx.get(handle)` finds the value on the runner.
 *
 * A reference is `"<runnerId>/<group>/<index>"`: `group` is the id, on its link, of the call
 * that made it (the call whose slot the resource keeps), `index` counts the call's `track`s
 * from 0.
 */

/** The one own enumerable property of a tracked reference. */
export const TRACKED_KEY = "flame-ts.tracked";

export interface TrackedRef {
  readonly runnerId: string;
  /** The id of the call that made it, on its runner's link. */
  readonly group: number;
  readonly index: number;
}

export function formatTrackedRef(ref: TrackedRef): string {
  return `${ref.runnerId}/${ref.group}/${ref.index}`;
}

/** The reference in `text`, or null when it is not one (read from the end: a runner id may hold `/`). */
export function parseTrackedRef(text: string): TrackedRef | null {
  const last = text.lastIndexOf("/");
  const middle = text.lastIndexOf("/", last - 1);
  if (middle <= 0) return null;
  const group = Number(text.slice(middle + 1, last));
  const index = Number(text.slice(last + 1));
  if (!isWireInt(group) || !isWireInt(index)) return null;
  return { runnerId: text.slice(0, middle), group, index };
}

/**
 * The reference string of `value` when it is a tracked reference or handle (an object whose
 * `TRACKED_KEY` property is a string), else undefined. Reads one property: cheap enough to
 * call on every object of a result being walked.
 */
export function trackedRefOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const ref = (value as { [TRACKED_KEY]?: unknown })[TRACKED_KEY];
  return typeof ref === "string" ? ref : undefined;
}

function isWireInt(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xfffffffe;
}
