/**
 * The sliced v8 reader's stack entries (../v8-slices.ts): one per object, array, map, set or
 * error whose parts are still being read. Node's `Deserializer` keeps this state on the C++
 * stack and so must finish a value in one call; kept here as data, it lets the reader stop
 * between any two parts and resume on a later event-loop turn. (Hand-written: no library
 * decodes v8's format incrementally.)
 */

// Kinds: what the value being built is.
export const OBJECT = 0;
export const DENSE_ARRAY = 1;
export const SPARSE_ARRAY = 2;
export const MAP = 3;
export const SET = 4;
export const ERROR = 5;

// What an error waits for.
export const ERROR_SUBTAG = 0;
export const ERROR_CAUSE = 1;

/** One value being built. Entries are reused (a value of millions of objects made millions). */
export class OpenValue {
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
