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
 *
 * Hand-written because no library decodes v8's format incrementally. This file owns the tag
 * dispatch and the stack of values being built (objects, arrays, maps, sets, errors); the
 * byte cursor and primitives are in v8-slices/byte-reader.ts, a stack entry in
 * v8-slices/open-value.ts, and how parts become values as V8 makes them in v8-slices/values.ts.
 */

import { ByteReader } from "./v8-slices/byte-reader.js";
import {
  DENSE_ARRAY,
  ERROR,
  ERROR_CAUSE,
  ERROR_SUBTAG,
  MAP,
  OBJECT,
  OpenValue,
  SET,
  SPARSE_ARRAY,
} from "./v8-slices/open-value.js";
import {
  defineOwn,
  ERROR_PROTOTYPES,
  hostObject,
  makeError,
  regexpFlags,
  resizableBuffer,
} from "./v8-slices/values.js";

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

/** An object id whose value is still being built (only errors: they are made at their end). */
const NOT_YET = Symbol("not yet");

class V8Slices implements SlicedDecode {
  value: unknown = undefined;
  #done = false;
  readonly #reader: ByteReader;
  readonly #stack: OpenValue[] = [];
  readonly #spare: OpenValue[] = [];
  readonly #objects: unknown[] = [];

  constructor(bytes: Uint8Array) {
    this.#reader = new ByteReader(bytes);
    if (this.#reader.byte() !== 0xff) throw new Error("not v8-serialized data (no version header)");
    const version = this.#reader.varint();
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
    const tag = this.#reader.tag();
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

  #isEnd(top: OpenValue, tag: number): boolean {
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

  #end(top: OpenValue, tag: number): void {
    if (top.hasKey) throw new Error("a property has a key and no value");
    this.#reader.varint(); // property or entry count, a consistency check V8 makes; not needed here
    if (tag === 0x24 || tag === 0x40) {
      const length = this.#reader.varint();
      const array = top.target as unknown[];
      if (array.length < length) array.length = length;
    }
    this.#stack.pop();
    const target = top.target;
    this.#release(top);
    this.#deliver(target);
  }

  #push(kind: number, target: unknown, length: number): OpenValue {
    const frame = (this.#spare.pop() ?? new OpenValue()).reset(kind, target, length);
    this.#stack.push(frame);
    return frame;
  }

  #release(frame: OpenValue): void {
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
        const n = this.#reader.varint();
        return this.#deliver((n >>> 1) ^ -(n & 1));
      }
      case 0x55: // U
        return this.#deliver(this.#reader.varint());
      case 0x4e: // N
        return this.#deliver(this.#reader.double());
      case 0x5a: // Z
        return this.#deliver(this.#reader.bigint());
      case 0x22: // "
      case 0x63: // c
      case 0x53: // S
        return this.#deliver(this.#reader.stringAfter(tag)) + (this.#reader.lastStringBytes >> 10);
      case 0x5e: {
        // ^ back reference
        const id = this.#reader.varint();
        const object = this.#objects[id];
        if (id >= this.#objects.length || object === NOT_YET) {
          throw new Error(`reference to object ${id}, which is not complete here`);
        }
        return this.#deliver(object);
      }
      case 0x3f: // ? (a legacy object count): nothing to deliver
        this.#reader.varint();
        return 1;
      case 0x6f: // o
        return this.#open(OBJECT, {}, 0);
      case 0x41: {
        // A: dense array of `length` elements, then properties
        const length = this.#reader.varint();
        return this.#open(DENSE_ARRAY, [], length);
      }
      case 0x61: {
        // a: sparse array, properties only
        const array: unknown[] = [];
        array.length = this.#reader.varint();
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
        value = new Date(this.#reader.double());
        break;
      case 0x79: // y
        value = Object(true);
        break;
      case 0x78: // x
        value = Object(false);
        break;
      case 0x6e: // n
        value = Object(this.#reader.double());
        break;
      case 0x7a: // z
        value = Object(this.#reader.bigint());
        break;
      case 0x73: // s
        value = Object(this.#reader.stringAfter(this.#reader.tag()));
        break;
      case 0x52: {
        // R
        const pattern = this.#reader.stringAfter(this.#reader.tag());
        value = new RegExp(pattern, regexpFlags(this.#reader.varint()));
        break;
      }
      case 0x42: {
        // B
        const length = this.#reader.varint();
        value = this.#reader.copy(length).buffer;
        cost += length >> 10;
        break;
      }
      case 0x7e: {
        // ~ resizable ArrayBuffer
        const length = this.#reader.varint();
        const maxByteLength = this.#reader.varint();
        const buffer = resizableBuffer(length, maxByteLength);
        new Uint8Array(buffer).set(this.#reader.raw(length));
        value = buffer;
        cost += length >> 10;
        break;
      }
      case 0x5c: {
        // \ host object: Node's typed array or Buffer
        const type = this.#reader.varint();
        const length = this.#reader.varint();
        const bytes = this.#reader.copy(length);
        cost += length >> 10;
        value = hostObject(type, bytes);
        break;
      }
      default:
        throw new Error(
          `v8 serialization tag 0x${tag.toString(16)} at byte ${this.#reader.pos - 1} is not read here`,
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
  #errorPart(frame: OpenValue): number {
    const subtag = this.#reader.byte();
    const proto = ERROR_PROTOTYPES[String.fromCharCode(subtag)];
    if (proto !== undefined) frame.proto = proto;
    else if (subtag === 0x6d /* m */) frame.message = this.#reader.stringAfter(this.#reader.tag());
    else if (subtag === 0x73 /* s */) frame.stack = this.#reader.stringAfter(this.#reader.tag());
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
}
