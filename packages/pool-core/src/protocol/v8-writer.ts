/**
 * A writer of `node:v8`'s serialization format for small plain data: the values most calls
 * carry (numbers, strings, booleans, null, undefined, plain objects, arrays without holes,
 * dates, Buffers and typed arrays), written byte for byte as Node's DefaultSerializer writes
 * them, without one. Anything else, or anything past `MAX_WRITTEN_BYTES`, `MAX_OBJECTS` or
 * `MAX_ARRAY_LENGTH`, returns null and goes to V8's serializer whole, so errors and every
 * other type stay V8's.
 *
 * Why by hand: each V8 serializer leaves ~1.7 KB of native memory (its C++ state and the map
 * of the objects it wrote) that only a full garbage collection frees, and a thread that only
 * runs small calls rarely has one. Measured (issue 23, Node 20): a runner on 2 threads grew
 * from 83 to 255 MB of RSS over 200,000 echo calls and kept it idle, the parent from 99 to
 * 170 MB; 500,000 `v8.serialize` calls in an event loop held ~240 MB against 51 MB for
 * `JSON.stringify`. V8's serializer also costs ~1.6 µs per small value against a fraction of
 * that here. The reader for this format is v8-slices.ts; the tags are V8's
 * (src/objects/value-serializer.cc).
 *
 * What differs from V8, none of it visible once decoded: an integral number V8 happens to hold
 * as a double (`0.5 * 2`) is written as an integer, and a string whose characters all fit in
 * Latin-1 is written one byte per character even when V8 holds it two bytes wide. A getter on
 * a value that then turns out to need V8's serializer runs twice (once here, once there).
 */

import { types } from "node:util";
import { serialize } from "node:v8";

/** A value writing more than this goes to V8's serializer (a large one gains little here). */
export const MAX_WRITTEN_BYTES = 64 * 1024;
/** Objects and arrays one value may hold here: back-references are found by a linear scan. */
export const MAX_OBJECTS = 64;
/**
 * Longest array written here: telling a dense array from one with extra keys takes its keys,
 * and V8 writes a long array of numbers faster (5,000 doubles: ~0.27 ms against ~1 ms here).
 */
export const MAX_ARRAY_LENGTH = 32;

// Tags (V8's SerializationTag).
const PADDING = 0x00;
const UNDEFINED = 0x5f; // _
const NULL = 0x30; // 0
const TRUE = 0x54; // T
const FALSE = 0x46; // F
const INT32 = 0x49; // I
const DOUBLE = 0x4e; // N
const ONE_BYTE_STRING = 0x22; // "
const TWO_BYTE_STRING = 0x63; // c
const OBJECT_REFERENCE = 0x5e; // ^
const BEGIN_OBJECT = 0x6f; // o
const END_OBJECT = 0x7b; // {
const BEGIN_DENSE_ARRAY = 0x41; // A
const END_DENSE_ARRAY = 0x24; // $
const DATE = 0x44; // D
const HOST_OBJECT = 0x5c; // \\ (Node writes Buffers and typed arrays as host objects)

/** What V8 writes before a value (its version tag and number), read from V8 itself. */
const HEADER = (() => {
  const undefinedAlone = serialize(undefined);
  return Uint8Array.prototype.slice.call(undefinedAlone, 0, undefinedAlone.byteLength - 1);
})();

/**
 * Node's number for each kind of ArrayBufferView (lib/v8.js `_writeHostObject`), by its
 * prototype, read from what Node itself writes for one of each: the list differs between Node
 * releases (Float16Array, Buffer's own place).
 */
const VIEW_TYPES: ReadonlyMap<object, number> = (() => {
  const kinds: { readonly prototype: object; sample(): ArrayBufferView }[] = [
    { prototype: Buffer.prototype, sample: () => Buffer.alloc(0) },
    { prototype: DataView.prototype, sample: () => new DataView(new ArrayBuffer(0)) },
  ];
  const typedArrays = [
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
  ];
  for (const name of typedArrays) {
    const Kind = (globalThis as Record<string, unknown>)[name] as
      | (new (
          length: number,
        ) => ArrayBufferView)
      | undefined;
    if (Kind !== undefined) kinds.push({ prototype: Kind.prototype, sample: () => new Kind(0) });
  }
  const byPrototype = new Map<object, number>();
  for (const { prototype, sample } of kinds) {
    const bytes = serialize(sample());
    const at = HEADER.byteLength;
    // Tag, then a one-byte varint: Node's list is short.
    if (bytes[at] === HOST_OBJECT && (bytes[at + 1] as number) < 0x80) {
      byPrototype.set(prototype, bytes[at + 1] as number);
    }
  }
  return byPrototype;
})();

/** Characters outside Latin-1: such a string is written two bytes per character. */
const NOT_ONE_BYTE = /[\u0100-\uffff]/;
const getTime = Date.prototype.getTime;
const LARGEST_INDEX = 4_294_967_294;

/** Thrown inside the writer when the value is not one it writes; never escapes it. */
const UNSUPPORTED: unique symbol = Symbol("unsupported");

/**
 * Room for the largest value written here and what may follow the last bound check: checks
 * happen where a value, a string or a view starts; past one, at most a value's own fixed bytes
 * (10) and the end tags of every open object or array (≤ 11 bytes each, MAX_OBJECTS deep).
 */
const SLACK_BYTES = 10 + 11 * MAX_OBJECTS + 64;
/** Its pages are touched only as far as values reach. */
const scratch = Buffer.allocUnsafeSlow(MAX_WRITTEN_BYTES + SLACK_BYTES);
let pos = 0;
/** Objects written so far, in V8's id order (the index is the back-reference). */
const seen: object[] = [];
/** A getter that encodes while this writer runs leaves the inner value to V8's serializer. */
let writing = false;

/**
 * `prefix`, V8's header and `value` in one Buffer, or null when `value` is not plain data this
 * writer takes. A small one is a slice of Node's shared buffer pool, as `Buffer.allocUnsafe`
 * gives (an owned ArrayBuffer per value cost 0.9–3.5 µs more here); whoever transfers bytes to a
 * thread copies a slice first (runner-agent's `owned`).
 */
export function writePlainValue(prefix: Uint8Array, value: unknown): Buffer | null {
  if (writing) return null;
  if (prefix.byteLength + HEADER.byteLength > MAX_WRITTEN_BYTES) return null;
  writing = true;
  try {
    scratch.set(prefix, 0);
    scratch.set(HEADER, prefix.byteLength);
    pos = prefix.byteLength + HEADER.byteLength;
    writeValue(value);
    // Never reached when SLACK_BYTES holds; a write past the end would be lost, not thrown.
    if (pos > scratch.byteLength) return null;
    const out = Buffer.allocUnsafe(pos);
    scratch.copy(out, 0, 0, pos);
    return out;
  } catch (error) {
    if (error === UNSUPPORTED) return null;
    throw error;
  } finally {
    seen.length = 0;
    writing = false;
  }
}

function writeValue(value: unknown): void {
  if (pos > MAX_WRITTEN_BYTES) throw UNSUPPORTED;
  switch (typeof value) {
    case "number":
      writeNumber(value);
      break;
    case "string":
      writeString(value);
      break;
    case "boolean":
      tag(value ? TRUE : FALSE);
      break;
    case "undefined":
      tag(UNDEFINED);
      break;
    case "object":
      if (value === null) tag(NULL);
      else writeObject(value);
      break;
    default:
      throw UNSUPPORTED; // bigint, symbol, function: V8's serializer writes or refuses them
  }
}

function writeNumber(n: number): void {
  if ((n | 0) === n && !Object.is(n, -0)) {
    scratch[pos++] = INT32;
    varint(((n << 1) ^ (n >> 31)) >>> 0); // zigzag
    return;
  }
  scratch[pos] = DOUBLE;
  scratch.writeDoubleLE(n, pos + 1);
  pos += 9;
}

/** Strings up to this long are copied a character at a time (Buffer#write costs ~70 ns). */
const SHORT_STRING = 32;

function writeString(s: string): void {
  const length = s.length;
  // Padding, tag, length and the characters at two bytes each, at most.
  if (pos + 7 + length * 2 > MAX_WRITTEN_BYTES) throw UNSUPPORTED;
  if (length <= SHORT_STRING) {
    const start = pos;
    scratch[pos++] = ONE_BYTE_STRING;
    scratch[pos++] = length; // < 0x80: one varint byte
    for (let i = 0; i < length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        pos = start;
        writeTwoByteString(s);
        return;
      }
      scratch[pos++] = c;
    }
    return;
  }
  if (NOT_ONE_BYTE.test(s)) {
    writeTwoByteString(s);
    return;
  }
  scratch[pos++] = ONE_BYTE_STRING;
  varint(length);
  pos += scratch.write(s, pos, "latin1");
}

function writeTwoByteString(s: string): void {
  const byteLength = s.length * 2;
  // V8's reader expects two-byte characters at an even offset from the buffer's start.
  if ((pos + 1 + varintBytes(byteLength)) & 1) scratch[pos++] = PADDING;
  scratch[pos++] = TWO_BYTE_STRING;
  varint(byteLength);
  pos += scratch.write(s, pos, "utf16le");
}

function writeObject(o: object): void {
  const id = seen.indexOf(o);
  if (id >= 0) {
    tag(OBJECT_REFERENCE);
    varint(id);
    return;
  }
  if (seen.length === MAX_OBJECTS || types.isProxy(o)) throw UNSUPPORTED;
  seen.push(o);
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto === Object.prototype || proto === null) writePlainObject(o);
  else if (proto === Array.prototype && Array.isArray(o)) writeArray(o as unknown[]);
  else if (proto === Date.prototype && types.isDate(o)) {
    scratch[pos] = DATE;
    scratch.writeDoubleLE(getTime.call(o), pos + 1);
    pos += 9;
  } else {
    const viewType = VIEW_TYPES.get(proto as object);
    if (viewType === undefined || !ArrayBuffer.isView(o)) throw UNSUPPORTED;
    writeView(o, viewType);
  }
}

/** As Node's DefaultSerializer does: its type, its length, its bytes. */
function writeView(view: ArrayBufferView, viewType: number): void {
  const byteLength = view.byteLength;
  if (pos + 12 + byteLength > MAX_WRITTEN_BYTES) throw UNSUPPORTED;
  scratch[pos++] = HOST_OBJECT;
  scratch[pos++] = viewType;
  varint(byteLength);
  scratch.set(
    view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, byteLength),
    pos,
  );
  pos += byteLength;
}

/** As V8 does for an object: its own enumerable string keys, each still there when reached. */
function writePlainObject(o: object): void {
  tag(BEGIN_OBJECT);
  const record = o as Record<string, unknown>;
  let written = 0;
  for (const key of Object.keys(o)) {
    if (!Object.hasOwn(o, key)) continue; // a getter before it deleted it
    const value = record[key];
    writeKey(key);
    writeValue(value);
    written += 1;
  }
  tag(END_OBJECT);
  varint(written);
}

/** V8 holds an array index key as a number and writes it as one. */
function writeKey(key: string): void {
  const first = key.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39 && key.length <= 10 && (first !== 0x30 || key.length === 1)) {
    const n = Number(key);
    if (Number.isInteger(n) && n <= LARGEST_INDEX && String(n) === key) {
      writeNumber(n);
      return;
    }
  }
  writeString(key);
}

/**
 * A dense array: every index its own, enumerable and present, and no other keys (holes and
 * extra keys are left to V8, which writes them its own ways).
 */
function writeArray(array: unknown[]): void {
  const length = array.length;
  if (length > MAX_ARRAY_LENGTH) throw UNSUPPORTED;
  const keys = Object.keys(array);
  if (keys.length !== length || (length > 0 && keys[length - 1] !== String(length - 1))) {
    throw UNSUPPORTED;
  }
  tag(BEGIN_DENSE_ARRAY);
  varint(length);
  for (let i = 0; i < length; i++) {
    const value = array[i];
    if (value === undefined && !Object.hasOwn(array, i)) throw UNSUPPORTED; // a getter made a hole
    writeValue(value);
  }
  tag(END_DENSE_ARRAY);
  varint(0); // properties besides the indices
  varint(length);
}

function tag(t: number): void {
  scratch[pos++] = t;
}

function varint(n: number): void {
  let rest = n;
  while (rest >= 0x80) {
    scratch[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  scratch[pos++] = rest;
}

function varintBytes(n: number): number {
  let bytes = 1;
  for (let rest = n; rest >= 0x80; rest >>>= 7) bytes += 1;
  return bytes;
}
