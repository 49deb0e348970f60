/**
 * The function registry: `defineFunction(id, impl)` names a function with a stable id so the
 * parent can ask a runner (which loaded the same module) to run it.
 *
 * The registry lives on a `globalThis` symbol, not in this module, so two copies of
 * pool-core in one process (e.g. the app's and the runner-agent's) see the same functions.
 */
import { FlameError } from "./errors.js";
import type { Dispose, Tracked } from "./tracked/types.js";

/** What a function receives besides its input. */
export interface FunctionContext {
  /** Aborts when the call's deadline passes, the caller cancels, or the child is stopped. */
  readonly signal: AbortSignal;
  /** Absolute epoch ms after which the call fails with TIMEOUT; null = no deadline. */
  readonly deadlineMs: number | null;
  /** The runner executing the call. */
  readonly runnerId: string;
  /**
   * The same string on every attempt of one call: the caller's `idempotencyKey` option, or one
   * the pool made for the call (retries on), or one unique to the call (retries off). Use it
   * to make a side effect happen once when a runner lost mid-call makes the call run again.
   */
  readonly idempotencyKey: string;
  /** 1 for the first attempt; 2, 3, … when `retry` runs the call again after a runner loss. */
  readonly attempt: number;
  /**
   * Keeps `value` on this runner (in this thread) and returns its reference, for the call's
   * result to carry: the caller receives a `Tracked<T>` handle in its place. `dispose` runs
   * here when the caller releases the handle (or it is garbage-collected, or the parent goes,
   * or the pool stops), or at once if the result does not carry the reference, or if the
   * function throws. Calls only (not casts or placed children).
   */
  track<T>(value: T, dispose?: Dispose<T>): Tracked<T>;
  /**
   * In a call pinned with `{ on: handle }`: the live value that handle refers to (reading it
   * throws FlameError RESOURCE_GONE if it was released meanwhile). Undefined in a call that is
   * not pinned.
   */
  readonly resource: unknown;
  /**
   * The live value of any handle this thread holds — e.g. the second value of a call that
   * tracked two — passed in the pinned call's input. Throws
   * FlameError RESOURCE_GONE when this runner (thread) does not hold it: released, or not
   * pinned here.
   */
  get<T>(handle: Tracked<T>): T;
}

export interface FlameFunction<I, O> {
  readonly id: string;
  readonly impl: (input: I, ctx: FunctionContext) => O | Promise<O>;
}

type Registry = Map<string, FlameFunction<unknown, unknown>>;

const REGISTRY_KEY = Symbol.for("flame-ts.functions");

/** This copy's handle on the shared map (the map is created once and never replaced). */
let cachedRegistry: Registry | undefined;

function registry(): Registry {
  if (cachedRegistry !== undefined) return cachedRegistry;
  const holder = globalThis as { [REGISTRY_KEY]?: Registry };
  let map = holder[REGISTRY_KEY];
  if (map === undefined) {
    map = new Map();
    holder[REGISTRY_KEY] = map;
  }
  cachedRegistry = map;
  return map;
}

/**
 * Registers `impl` under `id` and returns a handle to pass to `pool.call`. Call it at module
 * top level in a module that both the parent and the runners import, so ids match.
 */
export function defineFunction<I, O>(
  id: string,
  impl: (input: I, ctx: FunctionContext) => O | Promise<O>,
): FlameFunction<I, O> {
  if (typeof id !== "string" || id.length === 0) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `defineFunction: the id must be a non-empty string, got ${JSON.stringify(id)}.`,
      { field: "id" },
    );
  }
  if (typeof impl !== "function") {
    throw new FlameError(
      "INVALID_OPTIONS",
      `defineFunction("${id}"): the implementation must be a function.`,
      { field: "impl" },
    );
  }
  const map = registry();
  if (map.has(id)) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `defineFunction: a function with id "${id}" is already defined. Ids must be unique per process; rename one of them.`,
      { field: "id" },
    );
  }
  const fn: FlameFunction<I, O> = Object.freeze({ id, impl });
  map.set(id, fn as unknown as FlameFunction<unknown, unknown>);
  return fn;
}

export function lookupFunction(id: string): FlameFunction<unknown, unknown> | undefined {
  return registry().get(id);
}

/** Every id defined in this process, in definition order (a runner's hello reports them). */
export function listFunctionIds(): string[] {
  return [...registry().keys()];
}

/**
 * Whether a function's outcome is a promise (or any thenable) rather than a value: the runner
 * answers plain values in the same tick and waits only for these.
 */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
