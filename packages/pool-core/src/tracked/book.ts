/**
 * A pool's book of tracked resources (the parent side of `ctx.track`). A call whose result
 * carries references becomes a *holder*: its checkout keeps its slot (the core's
 * `convertToTracked`) while any of its resources lives, and its handles name it in pinned
 * calls. The book maps holder checkout ↔ (runner, group = the call's id on its link, the
 * resources by index), carries out releases on the link, takes the runner's `released`
 * answers, and tells the host when a holder has nothing left (`holderDone` → `checkin`).
 *
 * It decides no policy: which calls run where, and when a holder's slot frees, are the core's.
 * A resource ends in one of five ways (`ReleaseReason`): `release()`, the handle collected
 * (FinalizationRegistry), lost with its thread (`released lost`), its runner gone (the core's
 * `failCheckout` of the holder), or the pool stopping.
 */
import type { LinkConnection, ReleasedOutcome } from "../host/link-port.js";
import type { LogFn } from "../options/index.js";
import type { PoolEventBody } from "../telemetry/events.js";
import { parseTrackedRef, replaceTrackedRefs } from "../wire/tracked.js";
import { type HandleOwner, type ReleaseReason, ResourceState, TrackedHandle } from "./handle.js";

export interface TrackedBookDeps {
  readonly connection: (runnerId: string) => LinkConnection | undefined;
  readonly emit: (body: PoolEventBody) => void;
  readonly log: LogFn;
  /** Every resource of holder `checkoutId` is gone: its slot goes back to the core. */
  readonly holderDone: (checkoutId: string) => void;
  /** Drain or stop asked: a holder lost with its runner then was let go by the stop. */
  readonly closing: () => boolean;
}

/** The call a tracked answer came from. */
export interface TrackedCall {
  readonly checkoutId: string;
  readonly runnerId: string;
  /** The call's id on its link: the `group` of the references it made. */
  readonly group: number;
  readonly fn: string;
}

/** Where a call pinned to a handle goes. */
export interface Pin {
  readonly holderCheckoutId: string;
  readonly runnerId: string;
  readonly group: number;
  /** Which of the group's values the call gets as `ctx.resource`. */
  readonly index: number;
}

interface Holder extends TrackedCall {
  readonly resources: Map<number, ResourceState>;
  /** Resources not gone yet. */
  open: number;
  /**
   * The pool stopped: its resources are gone for the app, and the runner disposes them as it
   * exits; its late `released` frames are expected, and no checkin is owed.
   */
  stopped: boolean;
}

export class TrackedBook implements HandleOwner {
  readonly #d: TrackedBookDeps;
  readonly #holders = new Map<string, Holder>();
  /** runnerId → group → holder: where a `released` frame goes. */
  readonly #byRunner = new Map<string, Map<number, Holder>>();
  /**
   * A handle the app dropped releases its resource. The held value is the state, which does
   * not reference the handle (else the handle could never be collected).
   */
  readonly #collected = new FinalizationRegistry<ResourceState>((state) =>
    this.release(state, "collected"),
  );

  constructor(deps: TrackedBookDeps) {
    this.#d = deps;
  }

  /**
   * A call answered ok with `tracked`: puts a handle in place of each reference this call
   * made on this runner (others are left as plain data) and records the call as their holder.
   * Returns the value to hand over, or null when it carries none of this call's references
   * (nothing is held: the runner disposed what the result did not carry). `watch`: a handle
   * garbage-collected releases its resource (false when nobody will get the handles: the host
   * then calls `releaseAll`).
   */
  adopt(call: TrackedCall, value: unknown, watch: boolean): { value: unknown } | null {
    const handles = new Map<number, TrackedHandle>();
    const replaced = replaceTrackedRefs(value, (ref, reference) => {
      const parsed = parseTrackedRef(ref);
      if (parsed === null || parsed.runnerId !== call.runnerId || parsed.group !== call.group) {
        return reference;
      }
      let handle = handles.get(parsed.index);
      if (handle === undefined) {
        const state = new ResourceState(call.checkoutId, call.runnerId, parsed.index);
        handle = new TrackedHandle(ref, state, this);
        handles.set(parsed.index, handle);
      }
      return handle;
    });
    if (handles.size === 0) return null;
    const holder: Holder = { ...call, resources: new Map(), open: handles.size, stopped: false };
    for (const [index, handle] of handles) {
      const state = TrackedHandle.stateOf(handle, this) as ResourceState;
      holder.resources.set(index, state);
      if (watch) this.#collected.register(handle, state, state);
    }
    this.#holders.set(call.checkoutId, holder);
    let groups = this.#byRunner.get(call.runnerId);
    if (groups === undefined) {
      groups = new Map();
      this.#byRunner.set(call.runnerId, groups);
    }
    groups.set(call.group, holder);
    const { runnerId, fn, checkoutId } = call;
    this.#d.emit({ type: "trackedHeld", runnerId, fn, checkoutId, count: handles.size });
    return { value: replaced };
  }

  /** Releases every resource of holder `checkoutId` (its handles reach nobody). */
  releaseAll(checkoutId: string): void {
    const holder = this.#holders.get(checkoutId);
    if (holder === undefined) return;
    for (const state of [...holder.resources.values()]) this.release(state, "released");
  }

  /**
   * Where a call pinned to `value` goes; "gone" when released; "closing" when the pool is
   * draining or stopped (no new call runs, pinned or not); null when not this pool's handle.
   */
  pin(value: unknown): Pin | "gone" | "closing" | null {
    const state = TrackedHandle.stateOf(value, this);
    if (state === null) return null;
    if (this.#d.closing()) return "closing";
    const holder = this.#holders.get(state.checkoutId);
    if (state.phase !== "live" || holder === undefined) return "gone";
    return {
      holderCheckoutId: holder.checkoutId,
      runnerId: holder.runnerId,
      group: holder.group,
      index: state.index,
    };
  }

  /** `release()`, or the handle collected: the runner is asked to dispose (once). */
  release(state: ResourceState, reason: "released" | "collected"): void {
    if (state.phase !== "live") return;
    state.phase = "releasing";
    state.reason = reason;
    this.#collected.unregister(state);
    const holder = this.#holders.get(state.checkoutId);
    const conn = holder === undefined ? undefined : this.#d.connection(holder.runnerId);
    if (holder === undefined || conn === undefined) {
      // Its runner is gone (the core is told, or was): nothing is left to dispose.
      if (holder === undefined) state.end("runnerDown");
      else this.#gone(holder, state, "runnerDown", undefined);
      return;
    }
    conn.release(holder.group, state.index);
  }

  /** The runner's `released`: false when nothing here held it (a frame to count as dropped). */
  released(runnerId: string, group: number, index: number, outcome: ReleasedOutcome): boolean {
    const holder = this.#byRunner.get(runnerId)?.get(group);
    const state = holder?.resources.get(index);
    if (holder === undefined || state === undefined) return false;
    if (state.phase === "gone") return holder.stopped;
    const reason: ReleaseReason =
      state.phase === "releasing"
        ? (state.reason ?? "released")
        : outcome.lost
          ? "lost"
          : "released";
    if (outcome.error !== undefined) {
      this.#d.log("warn", `dispose of a tracked resource of "${holder.fn}" threw`, {
        runnerId,
        index,
        error: outcome.error.message,
      });
    }
    this.#gone(holder, state, reason, outcome.error?.message);
    return true;
  }

  /**
   * The core failed the holder (`failCheckout`: its runner is gone): every resource is gone.
   * False when `checkoutId` is no holder.
   */
  holderLost(checkoutId: string): boolean {
    const holder = this.#holders.get(checkoutId);
    if (holder === undefined) return false;
    const reason = holder.stopped || this.#d.closing() ? "stopped" : "runnerDown";
    for (const state of holder.resources.values()) this.#gone(holder, state, reason, undefined);
    this.#forget(holder);
    return true;
  }

  /**
   * The pool is stopping: every resource is gone for the app now (pinned calls are refused,
   * `release()` resolves); the runners dispose them as they exit.
   */
  stop(): void {
    for (const holder of this.#holders.values()) {
      holder.stopped = true;
      for (const state of holder.resources.values())
        this.#gone(holder, state, "stopped", undefined);
    }
  }

  #gone(
    holder: Holder,
    state: ResourceState,
    reason: ReleaseReason,
    error: string | undefined,
  ): void {
    if (!state.end(reason)) return;
    this.#collected.unregister(state);
    holder.open -= 1;
    this.#d.emit({
      type: "trackedReleased",
      runnerId: holder.runnerId,
      checkoutId: holder.checkoutId,
      index: state.index,
      reason,
      ...(error === undefined ? {} : { error: error.slice(0, 300) }),
    });
    // Lost with its runner or stopped: the core takes the slot back itself.
    if (holder.open > 0 || holder.stopped || reason === "runnerDown" || reason === "stopped")
      return;
    this.#forget(holder);
    this.#d.holderDone(holder.checkoutId);
  }

  #forget(holder: Holder): void {
    this.#holders.delete(holder.checkoutId);
    const groups = this.#byRunner.get(holder.runnerId);
    groups?.delete(holder.group);
    if (groups?.size === 0) this.#byRunner.delete(holder.runnerId);
  }
}
