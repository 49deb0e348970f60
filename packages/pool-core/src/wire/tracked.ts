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

/**
 * Visits every tracked reference in `value` (plain objects, arrays, Maps and Sets, at any
 * depth, each object once even in a cycle) and puts what `replace` returns in its place. The
 * value is changed in place; the return is what stands for `value` itself. A reference is not
 * looked into. Written by hand: it must see exactly what a codec carries (own enumerable
 * properties, Map entries, Set members) and nothing else (not typed arrays, not Dates).
 */
export function replaceTrackedRefs(
  value: unknown,
  replace: (ref: string, reference: object) => unknown,
): unknown {
  const seen = new Set<object>();
  const visit = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null) return v;
    const ref = trackedRefOf(v);
    if (ref !== undefined) return replace(ref, v);
    if (seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
    } else if (v instanceof Map) {
      for (const [key, inner] of v) v.set(key, visit(inner));
    } else if (v instanceof Set) {
      const members = [...v];
      v.clear();
      for (const member of members) v.add(visit(member));
    } else if (isPlainRecord(v)) {
      const record = v as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = visit(record[key]);
    }
    return v;
  };
  return visit(value);
}

/** An object a codec carries as a record of its own properties (not a Date, buffer, error…). */
function isPlainRecord(v: object): boolean {
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date) return false;
  if (v instanceof RegExp || v instanceof Error) return false;
  return true;
}
