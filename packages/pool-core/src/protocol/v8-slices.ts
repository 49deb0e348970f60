/**
 * A reader of `node:v8`'s serialization format (what `v8Codec` writes: V8's ValueSerializer
 * plus Node's DefaultSerializer host objects for typed arrays and Buffers) that can stop after
 * a bounded amount of work and resume later. The parent uses it for large answers, so a runner
 * that returns a value of millions of small objects costs the parent many short slices of
 * work instead of one stall of its event loop (issue 22, row 2: ~7 s for a 15 MB answer).
 *
 * Why not a worker thread: a value decoded there would come back through `postMessage`, whose
 * structured clone rebuilds every object on the main thread again; building the objects is
 * the cost, so only spreading it out helps.
 *
 * The result equals `v8Codec.decode`'s (typed arrays and Buffers copied out of the frame).
 * Anything the format can say that Node's DefaultSerializer never writes without a transfer
 * list (shared or transferred buffers, WebAssembly, V8's own array-buffer views) is refused
 * with an error, as are truncated or malformed bytes: never a partial value.
 */

/** A decode in progress. */
export interface SlicedDecode {
  /**
   * Does up to about `budget` units of work (one unit per value, plus one per KiB copied);
   * true once the value is complete, then `value` holds it. Throws on bytes it can't read.
   */
  step(budget: number): boolean;
  readonly value: unknown;
}

export function startV8Decode(bytes: Uint8Array): SlicedDecode {
  return new V8Slices(bytes);
}

/** Format versions written by the V8s of the Node releases we support (Node 20: 15, Node 24: 15). */
const MIN_VERSION = 13;
const MAX_VERSION = 15;

// Frame kinds: what the value being built is.
const OBJECT = 0;
const DENSE_ARRAY = 1;
const SPARSE_ARRAY = 2;
const MAP = 3;
const SET = 4;
const ERROR = 5;

// What an error frame waits for.
const ERROR_SUBTAG = 0;
const ERROR_CAUSE = 1;

/** An object id whose value is still being built (only errors: they are made at their end). */
const NOT_YET = Symbol("not yet");

const ERROR_PROTOTYPES: Readonly<Record<string, ErrorConstructor>> = {
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

/** One value being built. Frames are reused (a value of millions of objects made millions). */
class Frame {
  kind = OBJECT;
  target: unknown = undefined;
  length = 0;
  key: unknown = undefined;
  hasKey = false;
  index = 0;
  // Error parts, kept until its end tag makes the error.
  errorId = 0;
  waiting = ERROR_SUBTAG;
  proto: ErrorConstructor = Error;
  message: string | undefined = undefined;
  stack: string | undefined = undefined;
  cause: unknown = undefined;
  hasCause = false;

  reset(kind: number, target: unknown, length: number): this {
    this.kind = kind;
    this.target = target;
    this.length = length;
    this.key = undefined;
    this.hasKey = false;
    this.index = 0;
    this.waiting = ERROR_SUBTAG;
    this.proto = Error;
    this.message = undefined;
    this.stack = undefined;
    this.cause = undefined;
    this.hasCause = false;
    return this;
  }
}

class V8Slices implements SlicedDecode {
  value: unknown = undefined;
  #done = false;
  #pos = 0;
  readonly #buf: Buffer;
  readonly #view: DataView;
  readonly #stack: Frame[] = [];
  readonly #spare: Frame[] = [];
  readonly #objects: unknown[] = [];

  constructor(bytes: Uint8Array) {
    this.#buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#byte() !== 0xff) throw new Error("not v8-serialized data (no version header)");
    const version = this.#varint();
    if (version < MIN_VERSION || version > MAX_VERSION) {
      throw new Error(`v8 serialization version ${version} is not supported here`);
    }
  }

  step(budget: number): boolean {
    let left = budget;
    while (!this.#done && left > 0) left -= this.#next();
    return this.#done;
  }

  /** Reads one tag (or error subtag) and what follows it; returns the work it cost. */
  #next(): number {
    const top = this.#stack[this.#stack.length - 1];
    if (top?.kind === ERROR && top.waiting === ERROR_SUBTAG) return this.#errorPart(top);
    const tag = this.#tag();
    if (top !== undefined) {
      if (top.kind === DENSE_ARRAY && top.index < top.length && tag === 0x2d /* - hole */) {
        top.index++;
        return 1;
      }
      if (this.#isEnd(top, tag)) {
        this.#end(top, tag);
        return 1;
      }
    }
    return this.#valueAfter(tag);
  }

  #isEnd(top: Frame, tag: number): boolean {
    switch (top.kind) {
      case OBJECT:
        return tag === 0x7b; // {
      case DENSE_ARRAY:
        return tag === 0x24 && top.index >= top.length; // $
      case SPARSE_ARRAY:
        return tag === 0x40; // @
      case MAP:
        return tag === 0x3a; // :
      case SET:
        return tag === 0x2c; // ,
      default:
        return false;
    }
  }

  #end(top: Frame, tag: number): void {
    if (top.hasKey) throw new Error("a property has a key and no value");
    this.#varint(); // property or entry count, a consistency check V8 makes; not needed here
    if (tag === 0x24 || tag === 0x40) {
      const length = this.#varint();
      const array = top.target as unknown[];
      if (array.length < length) array.length = length;
    }
    this.#stack.pop();
    const target = top.target;
    this.#release(top);
    this.#deliver(target);
  }

  #push(kind: number, target: unknown, length: number): Frame {
    const frame = (this.#spare.pop() ?? new Frame()).reset(kind, target, length);
    this.#stack.push(frame);
    return frame;
  }

  #release(frame: Frame): void {
    frame.reset(OBJECT, undefined, 0);
    this.#spare.push(frame);
  }

  #valueAfter(tag: number): number {
    switch (tag) {
      case 0x5f: // _
        return this.#deliver(undefined);
      case 0x30: // 0
        return this.#deliver(null);
      case 0x54: // T
        return this.#deliver(true);
      case 0x46: // F
        return this.#deliver(false);
      case 0x49: {
        // I: zigzag int32
        const n = this.#varint();
        return this.#deliver((n >>> 1) ^ -(n & 1));
      }
      case 0x55: // U
        return this.#deliver(this.#varint());
      case 0x4e: // N
        return this.#deliver(this.#double());
      case 0x5a: // Z
        return this.#deliver(this.#bigint());
      case 0x22: // "
      case 0x63: // c
      case 0x53: // S
        return this.#deliver(this.#stringAfter(tag)) + (this.#lastRawBytes >> 10);
      case 0x5e: {
        // ^ back reference
        const id = this.#varint();
        const object = this.#objects[id];
        if (id >= this.#objects.length || object === NOT_YET) {
          throw new Error(`reference to object ${id}, which is not complete here`);
        }
        return this.#deliver(object);
      }
      case 0x3f: // ? (a legacy object count): nothing to deliver
        this.#varint();
        return 1;
      case 0x6f: // o
        return this.#open(OBJECT, {}, 0);
      case 0x41: {
        // A: dense array of `length` elements, then properties
        const length = this.#varint();
        return this.#open(DENSE_ARRAY, [], length);
      }
      case 0x61: {
        // a: sparse array, properties only
        const array: unknown[] = [];
        array.length = this.#varint();
        return this.#open(SPARSE_ARRAY, array, 0);
      }
      case 0x3b: // ;
        return this.#open(MAP, new Map(), 0);
      case 0x27: // '
        return this.#open(SET, new Set(), 0);
      case 0x72: {
        // r: error, its parts follow as subtags
        const frame = this.#push(ERROR, undefined, 0);
        frame.errorId = this.#objects.length;
        this.#objects.push(NOT_YET);
        return 1;
      }
      default:
        return this.#object(tag);
    }
  }

  /** Values that take an object id and have no parts: dates, wrappers, regexps, buffers. */
  #object(tag: number): number {
    let value: unknown;
    let cost = 1;
    switch (tag) {
      case 0x44: // D
        value = new Date(this.#double());
        break;
      case 0x79: // y
        value = Object(true);
        break;
      case 0x78: // x
        value = Object(false);
        break;
      case 0x6e: // n
        value = Object(this.#double());
        break;
      case 0x7a: // z
        value = Object(this.#bigint());
        break;
      case 0x73: // s
        value = Object(this.#stringAfter(this.#tag()));
        break;
      case 0x52: {
        // R
        const pattern = this.#stringAfter(this.#tag());
        value = new RegExp(pattern, regexpFlags(this.#varint()));
        break;
      }
      case 0x42: {
        // B
        const length = this.#varint();
        value = this.#copy(length).buffer;
        cost += length >> 10;
        break;
      }
      case 0x7e: {
        // ~ resizable ArrayBuffer
        const length = this.#varint();
        const maxByteLength = this.#varint();
        const Resizable = ArrayBuffer as unknown as new (
          n: number,
          o: { maxByteLength: number },
        ) => ArrayBuffer;
        const buffer = new Resizable(length, { maxByteLength });
        new Uint8Array(buffer).set(this.#raw(length));
        value = buffer;
        cost += length >> 10;
        break;
      }
      case 0x5c: {
        // \ host object: Node's typed array or Buffer
        const type = this.#varint();
        const length = this.#varint();
        const bytes = this.#copy(length);
        cost += length >> 10;
        if (type === BUFFER_TYPE) value = Buffer.from(bytes.buffer, 0, length);
        else {
          const View = VIEW_TYPES[type];
          if (View === undefined) throw new Error(`unknown typed array type ${type}`);
          value = new View(bytes.buffer);
        }
        break;
      }
      default:
        throw new Error(
          `v8 serialization tag 0x${tag.toString(16)} at byte ${this.#pos - 1} is not read here`,
        );
    }
    this.#objects.push(value);
    return this.#deliver(value) + cost - 1;
  }

  #open(kind: number, target: unknown, length: number): number {
    this.#objects.push(target);
    this.#push(kind, target, length);
    return 1;
  }

  /** One error subtag; the error is made at its end (`.`), with what came before. */
  #errorPart(frame: Frame): number {
    const subtag = this.#byte();
    const proto = ERROR_PROTOTYPES[String.fromCharCode(subtag)];
    if (proto !== undefined) frame.proto = proto;
    else if (subtag === 0x6d /* m */) frame.message = this.#stringAfter(this.#tag());
    else if (subtag === 0x73 /* s */) frame.stack = this.#stringAfter(this.#tag());
    else if (subtag === 0x63 /* c */) frame.waiting = ERROR_CAUSE;
    else if (subtag === 0x2e /* . */) {
      this.#stack.pop();
      const error = makeError(frame);
      this.#objects[frame.errorId] = error;
      this.#release(frame);
      return this.#deliver(error);
    } else throw new Error(`unknown error subtag 0x${subtag.toString(16)}`);
    return 1;
  }

  /** Hands a complete value to the one being built (or makes it the result). */
  #deliver(value: unknown): number {
    const top = this.#stack[this.#stack.length - 1];
    if (top === undefined) {
      this.value = value;
      this.#done = true;
      return 1;
    }
    switch (top.kind) {
      case SET:
        (top.target as Set<unknown>).add(value);
        return 1;
      case ERROR:
        top.cause = value;
        top.hasCause = true;
        top.waiting = ERROR_SUBTAG;
        return 1;
      case DENSE_ARRAY:
        if (top.index < top.length) {
          (top.target as unknown[])[top.index++] = value;
          return 1;
        }
        break;
    }
    if (!top.hasKey) {
      if (top.kind !== MAP && typeof value !== "string" && typeof value !== "number") {
        throw new Error("a property key must be a string or a number");
      }
      top.key = value;
      top.hasKey = true;
      return 1;
    }
    top.hasKey = false;
    if (top.kind === MAP) (top.target as Map<unknown, unknown>).set(top.key, value);
    else defineOwn(top.target as Record<PropertyKey, unknown>, top.key as PropertyKey, value);
    return 1;
  }

  #lastRawBytes = 0;

  #stringAfter(tag: number): string {
    const length = this.#varint();
    const start = this.#take(length);
    this.#lastRawBytes = length;
    switch (tag) {
      case 0x22:
        // Short keys and values are most strings in a large value; building them here is
        // cheaper than a call into Buffer's C++ for each.
        return length <= SHORT_STRING
          ? latin1(this.#buf, start, length)
          : this.#buf.toString("latin1", start, start + length);
      case 0x63:
        return this.#buf.toString("utf16le", start, start + length);
      case 0x53:
        return this.#buf.toString("utf8", start, start + length);
      default:
        throw new Error(`expected a string, found tag 0x${tag.toString(16)}`);
    }
  }

  /** The next tag, padding skipped. */
  #tag(): number {
    let tag = this.#byte();
    while (tag === 0) tag = this.#byte();
    return tag;
  }

  #byte(): number {
    if (this.#pos >= this.#buf.byteLength)
      throw new Error("the data ends in the middle of a value");
    return this.#buf[this.#pos++] as number;
  }

  #varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.#byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 49) throw new Error("a varint is too long");
    }
  }

  #double(): number {
    const start = this.#take(8);
    return this.#view.getFloat64(start, true);
  }

  #bigint(): bigint {
    const bitfield = this.#varint();
    const length = Math.floor(bitfield / 2);
    const digits = this.#raw(length);
    let hex = "";
    for (let i = digits.byteLength - 1; i >= 0; i--) {
      hex += (digits[i] as number).toString(16).padStart(2, "0");
    }
    const magnitude = hex === "" ? 0n : BigInt(`0x${hex}`);
    return bitfield % 2 === 1 ? -magnitude : magnitude;
  }

  /** Skips `length` bytes and returns where they start. */
  #take(length: number): number {
    const start = this.#pos;
    if (length > this.#buf.byteLength - start) {
      throw new Error("the data ends in the middle of a value");
    }
    this.#pos = start + length;
    return start;
  }

  #raw(length: number): Uint8Array {
    const start = this.#take(length);
    return this.#buf.subarray(start, start + length);
  }

  /** A copy, so the value never shares (or keeps alive) the frame's buffer. */
  #copy(length: number): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(length);
    bytes.set(this.#raw(length));
    return bytes;
  }
}

const SHORT_STRING = 16;

function latin1(buf: Buffer, start: number, length: number): string {
  let text = "";
  for (let i = start; i < start + length; i++) text += String.fromCharCode(buf[i] as number);
  return text;
}

/** CreateDataProperty, as V8 does: `__proto__` becomes an own property, not the prototype. */
function defineOwn(target: Record<PropertyKey, unknown>, key: PropertyKey, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else target[key] = value;
}

function regexpFlags(bits: number): string {
  let flags = "";
  for (const [bit, flag] of REGEXP_FLAGS) if ((bits & bit) !== 0) flags += flag;
  return flags;
}

function makeError(frame: Frame): Error {
  // V8 makes a deserialized error without capturing a stack; so do we (it would be ours).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const Ctor = frame.proto;
  const error = frame.message === undefined ? new Ctor() : new Ctor(frame.message);
  Error.stackTraceLimit = limit;
  if (frame.stack === undefined) delete (error as { stack?: string }).stack;
  else hidden(error, "stack", frame.stack);
  if (frame.hasCause) hidden(error, "cause", frame.cause);
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
