/**
 * How the sliced v8 reader (../v8-slices.ts) turns parts read from the bytes into JavaScript
 * values exactly as `v8.deserialize` would: errors without a captured stack, `__proto__` as an
 * own property, regexp flag bits, and Node's DefaultSerializer host objects (typed arrays,
 * DataView, Buffer). Hand-written because no library decodes v8's format incrementally, and
 * the result must equal `v8Codec.decode`'s.
 */

export const ERROR_PROTOTYPES: Readonly<Record<string, ErrorConstructor>> = {
  E: EvalError,
  R: RangeError,
  F: ReferenceError,
  S: SyntaxError,
  T: TypeError,
  U: URIError,
};

/** Node's host-object index for each ArrayBufferView type (lib/v8.js); 10 is Buffer. */
const VIEW_TYPES: ReadonlyArray<(new (b: ArrayBuffer) => ArrayBufferView) | undefined> = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  DataView,
  undefined,
  BigInt64Array,
  BigUint64Array,
  (globalThis as { Float16Array?: new (b: ArrayBuffer) => ArrayBufferView }).Float16Array,
];
const BUFFER_TYPE = 10;

const REGEXP_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [1, "g"],
  [2, "i"],
  [4, "m"],
  [8, "y"],
  [16, "u"],
  [32, "s"],
  [128, "d"],
  [256, "v"],
];

/** Node's host object of view type `type` over `bytes` (a copy the value may keep). */
export function hostObject(type: number, bytes: Uint8Array<ArrayBuffer>): ArrayBufferView {
  if (type === BUFFER_TYPE) return Buffer.from(bytes.buffer, 0, bytes.byteLength);
  const View = VIEW_TYPES[type];
  if (View === undefined) throw new Error(`unknown typed array type ${type}`);
  return new View(bytes.buffer);
}

/** A resizable ArrayBuffer of `byteLength` zeros that may grow to `maxByteLength`. */
export function resizableBuffer(byteLength: number, maxByteLength: number): ArrayBuffer {
  const Resizable = ArrayBuffer as unknown as new (
    n: number,
    o: { maxByteLength: number },
  ) => ArrayBuffer;
  return new Resizable(byteLength, { maxByteLength });
}

/** CreateDataProperty, as V8 does: `__proto__` becomes an own property, not the prototype. */
export function defineOwn(
  target: Record<PropertyKey, unknown>,
  key: PropertyKey,
  value: unknown,
): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else target[key] = value;
}

export function regexpFlags(bits: number): string {
  let flags = "";
  for (const [bit, flag] of REGEXP_FLAGS) if ((bits & bit) !== 0) flags += flag;
  return flags;
}

/** An error's parts as read before its end subtag. */
export interface ErrorParts {
  readonly proto: ErrorConstructor;
  readonly message: string | undefined;
  readonly stack: string | undefined;
  readonly cause: unknown;
  readonly hasCause: boolean;
}

export function makeError(parts: ErrorParts): Error {
  // V8 makes a deserialized error without capturing a stack; so do we (it would be ours).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const Ctor = parts.proto;
  const error = parts.message === undefined ? new Ctor() : new Ctor(parts.message);
  Error.stackTraceLimit = limit;
  if (parts.stack === undefined) delete (error as { stack?: string }).stack;
  else hidden(error, "stack", parts.stack);
  if (parts.hasCause) hidden(error, "cause", parts.cause);
  return error;
}

function hidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}
