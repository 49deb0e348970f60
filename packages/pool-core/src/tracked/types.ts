/**
 * Tracked resources (FLAME's `track_resources` and `FLAME.Trackable`): a function keeps a live
 * value on its runner with `ctx.track(value, dispose)` and returns the reference; the caller
 * receives a `Tracked<T>` handle in its place. While a handle lives, the runner holding the
 * value is not shut down for idleness and the call that made it keeps its slot; calls pinned
 * to it (`pool.call(fn, input, { on: handle })`) run on that runner, one at a time, and reach
 * the value with `ctx.get(handle)`. `release()` (or the handle being garbage-collected, its
 * runner going away, or the pool stopping) runs `dispose` on the runner.
 */
import type { TRACKED_KEY } from "../wire/tracked.js";

declare const trackedValue: unique symbol;

/** The parent's handle on a value kept on a runner (or, inside a function, its reference). */
export interface Tracked<T> {
  /** The reference the runner knows it by; what travels when the handle is sent back. */
  readonly [TRACKED_KEY]: string;
  /** Type only: the kept value's type (`ctx.get(handle)` returns it). */
  readonly [trackedValue]?: T;
  /** The runner holding the value. */
  readonly runnerId: string;
  /** True once released, disposed, or lost with its runner: pinned calls fail RESOURCE_GONE. */
  readonly released: boolean;
  /**
   * Lets go of the value: its `dispose` runs on the runner once the pinned calls already
   * sent to it are over. Resolves when the runner reports it disposed (or is gone); calling
   * it again returns the same promise.
   */
  release(): Promise<void>;
  /** `await using model = await pool.call(load, …)` releases at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** What `ctx.track` takes to free a kept value; it runs on the runner, at most once. */
export type Dispose<T> = (value: T) => void | Promise<void>;
