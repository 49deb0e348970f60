/**
 * The parent's handle on one tracked resource (`Tracked<T>`). Its only own enumerable
 * property is `TRACKED_KEY`, so a codec carries it as the bare reference when it is sent back
 * in a pinned call's input (`ctx.get(handle)` on the runner reads that property); everything
 * else is private state or on the prototype.
 *
 * What the handle knows lives in a `ResourceState` the pool's book (book.ts) keeps, never the
 * handle itself: the book must not keep the handle alive, so that a handle the app drops is
 * garbage-collected and its resource released (FinalizationRegistry).
 */
import { TRACKED_KEY } from "../wire/tracked.js";
import type { Tracked } from "./types.js";

/** Why a resource is no longer held (the `trackedReleased` event's `reason`). */
export type ReleaseReason = "released" | "collected" | "lost" | "runnerDown" | "stopped";

/**
 * One resource's life on the parent: `live` (pinned calls may use it), `releasing` (a
 * `release` was sent, the runner's `released` is awaited), `gone` (disposed, lost, or its
 * runner or pool is gone). One union, moved only by the book.
 */
export type ResourcePhase = "live" | "releasing" | "gone";

export class ResourceState {
  phase: ResourcePhase = "live";
  /** Why it left `live` (set with the phase). */
  reason: ReleaseReason | null = null;
  /** Made on the first `release()`; resolved once `gone`. */
  #done: Promise<void> | null = null;
  #resolveDone: () => void = () => {};

  constructor(
    /** The holder checkout (the call that made it). */
    readonly checkoutId: string,
    readonly runnerId: string,
    readonly index: number,
  ) {}

  /** Settles once the resource is gone (at once if it already is). */
  done(): Promise<void> {
    if (this.#done === null) {
      this.#done =
        this.phase === "gone"
          ? Promise.resolve()
          : new Promise((resolve) => {
              this.#resolveDone = resolve;
            });
    }
    return this.#done;
  }

  /** Moves to `gone` (from either other phase); true when it was not gone yet. */
  end(reason: ReleaseReason): boolean {
    if (this.phase === "gone") return false;
    this.reason = reason;
    this.phase = "gone";
    this.#resolveDone();
    return true;
  }
}

/** What the book does when a handle asks to be released. */
export interface HandleOwner {
  release(state: ResourceState, reason: "released" | "collected"): void;
}

export class TrackedHandle implements Tracked<unknown> {
  /** The reference (`"<runnerId>/<group>/<index>"`): the one own enumerable property. */
  readonly [TRACKED_KEY]: string;
  readonly #state: ResourceState;
  readonly #owner: HandleOwner;

  constructor(ref: string, state: ResourceState, owner: HandleOwner) {
    this[TRACKED_KEY] = ref;
    this.#state = state;
    this.#owner = owner;
  }

  get runnerId(): string {
    return this.#state.runnerId;
  }

  get released(): boolean {
    return this.#state.phase !== "live";
  }

  release(): Promise<void> {
    this.#owner.release(this.#state, "released");
    return this.#state.done();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** The state behind `value` when it is a handle made by `owner` (a pool's book), else null. */
  static stateOf(value: unknown, owner: HandleOwner): ResourceState | null {
    if (!(value instanceof TrackedHandle) || value.#owner !== owner) return null;
    return value.#state;
  }
}
