/**
 * A fluent scenario harness for the pure core: send events at virtual times, assert the
 * effects they produce. No sleeps and no real timers: `advanceTo` jumps time straight to each
 * deadline the core reports (like quinn's tests), sending the `tick` a host would send.
 *
 * After every step it checks the core's invariants and that nothing due is left pending
 * (`nextDeadline` is null or in the future), so every scenario also exercises them.
 */
import { expect as vitestExpect } from "vitest";
import {
  type CoreConfig,
  type CoreError,
  type CoreEvent,
  type CoreTelemetryEvent,
  checkInvariants,
  type Effect,
  initialState,
  nextDeadline,
  type PoolState,
  type ShutdownReason,
  snapshot,
  step,
} from "../../src/core/index.js";

/** An effect as scenarios spell it: errors compared by code only. */
export type ExpectedEffect =
  | { readonly type: "grant"; readonly checkoutId: string; readonly runnerId: string }
  | { readonly type: "reject"; readonly checkoutId: string; readonly code: CoreError["code"] }
  | { readonly type: "boot"; readonly bootId: string; readonly isMin: boolean }
  | { readonly type: "shutdownRunner"; readonly runnerId: string; readonly reason: ShutdownReason }
  | { readonly type: "failCheckout"; readonly checkoutId: string; readonly code: CoreError["code"] }
  | { readonly type: "retryCheckout"; readonly checkoutId: string; readonly attempt: number }
  | { readonly type: "checkIdle"; readonly runnerId: string }
  | { readonly type: "abortBoot"; readonly bootId: string }
  | { readonly type: "killRunner"; readonly runnerId: string }
  | { readonly type: "forgetRunner"; readonly runnerId: string }
  | { readonly type: "unqueue"; readonly checkoutId: string; readonly runnerId: string }
  | { readonly type: "stopped" };

export const boot = (bootId: string, isMin = false): ExpectedEffect => ({
  type: "boot",
  bootId,
  isMin,
});
export const grant = (checkoutId: string, runnerId: string): ExpectedEffect => ({
  type: "grant",
  checkoutId,
  runnerId,
});
export const reject = (checkoutId: string, code: CoreError["code"]): ExpectedEffect => ({
  type: "reject",
  checkoutId,
  code,
});
export const failCheckout = (checkoutId: string, code: CoreError["code"]): ExpectedEffect => ({
  type: "failCheckout",
  checkoutId,
  code,
});
export const retryCheckout = (checkoutId: string, attempt: number): ExpectedEffect => ({
  type: "retryCheckout",
  checkoutId,
  attempt,
});
export const shutdown = (runnerId: string, reason: ShutdownReason): ExpectedEffect => ({
  type: "shutdownRunner",
  runnerId,
  reason,
});
export const checkIdle = (runnerId: string): ExpectedEffect => ({ type: "checkIdle", runnerId });
export const abortBoot = (bootId: string): ExpectedEffect => ({ type: "abortBoot", bootId });
export const kill = (runnerId: string): ExpectedEffect => ({ type: "killRunner", runnerId });
export const forget = (runnerId: string): ExpectedEffect => ({ type: "forgetRunner", runnerId });
export const stopped = (): ExpectedEffect => ({ type: "stopped" });
export const unqueue = (checkoutId: string, runnerId: string): ExpectedEffect => ({
  type: "unqueue",
  checkoutId,
  runnerId,
});

const DEFAULT_CONFIG: CoreConfig = {
  name: "test",
  runnerIdPrefix: "r",
  buffer: 0,
  maxWaiting: null,
  budget: null,
  bootTimeoutMs: 30_000,
  shutdownTimeoutMs: 30_000,
  killGraceMs: 5_000,
  min: 0,
  max: 2,
  maxConcurrency: 1,
  idleShutdownAfterMs: null,
  minIdleShutdownAfterMs: null,
  hasIdleCheck: false,
  singleUse: false,
  // Scenarios written before prefetch keep the pool's queue; prefetch.test.ts turns it on.
  prefetch: false,
  bootRetryDelayMs: 1_000,
  deadlineGraceMs: 1_000,
};

function normalize(effect: Effect): ExpectedEffect | null {
  switch (effect.type) {
    case "reject":
    case "failCheckout":
      return { type: effect.type, checkoutId: effect.checkoutId, code: effect.error.code };
    case "retryCheckout":
      return { type: effect.type, checkoutId: effect.checkoutId, attempt: effect.attempt };
    case "telemetry":
      return null;
    case "grant":
      return { type: "grant", checkoutId: effect.checkoutId, runnerId: effect.runnerId };
    case "boot":
      return { type: "boot", bootId: effect.bootId, isMin: effect.isMin };
    case "abortBoot":
      return { type: "abortBoot", bootId: effect.bootId };
    case "shutdownRunner":
      return { type: "shutdownRunner", runnerId: effect.runnerId, reason: effect.reason };
    case "killRunner":
      return { type: "killRunner", runnerId: effect.runnerId };
    case "forgetRunner":
      return { type: "forgetRunner", runnerId: effect.runnerId };
    default:
      return effect;
  }
}

export class Scenario {
  readonly state: PoolState;
  nowMs = 0;
  /** Effects (telemetry excluded) not yet matched by an `expect`. */
  #unmatched: ExpectedEffect[] = [];
  /** Every effect of every step, raw, in order. */
  readonly log: Effect[] = [];
  #steps = 0;

  constructor(config: Partial<CoreConfig> = {}) {
    this.state = initialState({ ...DEFAULT_CONFIG, ...config });
  }

  /** Sends one event at the current time. */
  send(event: CoreEvent): this {
    const { state, effects } = step(this.state, event, this.nowMs);
    this.#steps += 1;
    vitestExpect(state).toBe(this.state);
    try {
      checkInvariants(state);
    } catch (error) {
      throw new Error(
        `after step ${this.#steps} (${JSON.stringify(event)} at ${this.nowMs} ms): ${String(error)}`,
      );
    }
    const deadline = nextDeadline(state);
    if (deadline !== null && deadline <= this.nowMs) {
      throw new Error(`after ${JSON.stringify(event)}: a deadline at ${deadline} ms is overdue`);
    }
    for (const effect of effects) {
      this.log.push(effect);
      const expected = normalize(effect);
      if (expected !== null) this.#unmatched.push(expected);
    }
    return this;
  }

  start(): this {
    return this.send({ type: "start" });
  }
  /** A checkout with the caller's timeout (null = wait forever). */
  checkout(checkoutId: string, timeoutMs: number | null = null): this {
    return this.send({ type: "checkout", checkoutId, timeoutMs });
  }
  checkin(checkoutId: string): this {
    return this.send({ type: "checkin", checkoutId, reason: "done" });
  }
  /** The runner gave back a call it held queued (the core's `unqueue`). */
  unqueued(checkoutId: string): this {
    return this.send({ type: "unqueued", checkoutId });
  }
  callerGone(checkoutId: string): this {
    return this.send({ type: "callerGone", checkoutId });
  }
  convertToChild(checkoutId: string, childId: string): this {
    return this.send({ type: "convertToChild", checkoutId, childId });
  }
  /** A granted call answered with tracked values: it becomes their holder. */
  convertToTracked(checkoutId: string): this {
    return this.send({ type: "convertToTracked", checkoutId });
  }
  /** A call pinned to holder `on` (`pool.call(fn, input, { on: handle })`). */
  pinned(checkoutId: string, on: string, timeoutMs: number | null = null): this {
    return this.send({ type: "checkout", checkoutId, timeoutMs, on });
  }
  /** `runnerId` is the id the scenario expects the core to have minted for this boot. */
  bootSucceeds(bootId: string, runnerId: string): this {
    const minted = this.state.pendingBoots.get(bootId)?.runnerId;
    if (minted !== undefined && minted !== runnerId) {
      throw new Error(`boot ${bootId} runs runner ${minted}, not ${runnerId}`);
    }
    return this.send({ type: "bootSucceeded", bootId });
  }
  bootFails(bootId: string, error = "no capacity", permanent = false): this {
    return this.send({ type: "bootFailed", bootId, error, permanent });
  }
  runnerDown(runnerId: string, reason = "crashed"): this {
    return this.send({ type: "runnerDown", runnerId, reason });
  }
  idleChecked(runnerId: string, shutdownRunner: boolean): this {
    return this.send({ type: "idleChecked", runnerId, shutdown: shutdownRunner });
  }
  resize(min: number, max: number, buffer?: number): this {
    return this.send(
      buffer === undefined ? { type: "resize", min, max } : { type: "resize", min, max, buffer },
    );
  }
  drain(timeoutMs: number | null = null): this {
    return this.send({ type: "drain", timeoutMs });
  }
  stop(): this {
    return this.send({ type: "stop" });
  }
  tick(): this {
    return this.send({ type: "tick" });
  }

  /** Moves time forward, ticking at every deadline on the way, then at `targetMs`. */
  advanceTo(targetMs: number): this {
    if (targetMs < this.nowMs) throw new Error(`time goes forward: ${targetMs} < ${this.nowMs}`);
    for (;;) {
      const deadline = nextDeadline(this.state);
      if (deadline === null || deadline > targetMs) break;
      this.nowMs = deadline;
      this.tick();
    }
    this.nowMs = targetMs;
    return this;
  }
  advanceBy(ms: number): this {
    return this.advanceTo(this.nowMs + ms);
  }

  /** Asserts the effects since the last `expect` are exactly these, in order. */
  expect(...effects: ExpectedEffect[]): this {
    const actual = this.#unmatched;
    this.#unmatched = [];
    vitestExpect(actual).toEqual(effects);
    return this;
  }
  /** Asserts nothing happened since the last `expect` (telemetry aside). */
  expectNothing(): this {
    return this.expect();
  }

  /** Telemetry events of one type, from the whole run. */
  telemetry<T extends CoreTelemetryEvent["type"]>(
    type: T,
  ): Array<Extract<CoreTelemetryEvent, { type: T }>> {
    const found: Array<Extract<CoreTelemetryEvent, { type: T }>> = [];
    for (const effect of this.log) {
      if (effect.type === "telemetry" && effect.event.type === type) {
        found.push(effect.event as Extract<CoreTelemetryEvent, { type: T }>);
      }
    }
    return found;
  }

  snapshot() {
    return snapshot(this.state, this.nowMs);
  }
  /** The run deadline the last grant of `checkoutId` carried. */
  runDeadline(checkoutId: string): number | null | undefined {
    for (let i = this.log.length - 1; i >= 0; i -= 1) {
      const e = this.log[i];
      if (e?.type === "grant" && e.checkoutId === checkoutId) return e.runDeadlineMs;
    }
    return undefined;
  }
  /** The error of the last reject/failCheckout of `checkoutId`. */
  errorOf(checkoutId: string): CoreError | undefined {
    for (let i = this.log.length - 1; i >= 0; i -= 1) {
      const e = this.log[i];
      if ((e?.type === "reject" || e?.type === "failCheckout") && e.checkoutId === checkoutId) {
        return e.error;
      }
    }
    return undefined;
  }
  nextDeadline(): number | null {
    return nextDeadline(this.state);
  }
  /** In-flight count of one runner, from the snapshot (undefined when gone). */
  inflight(runnerId: string): number | undefined {
    return this.snapshot().runners.find((r) => r.id === runnerId)?.inflight;
  }
}

export function scenario(config: Partial<CoreConfig> = {}): Scenario {
  return new Scenario(config);
}

/**
 * A started pool whose first caller `checkoutId` booted runner r1 (boot b1) and runs on it.
 * `ask` sends that caller's checkout (a plain `checkout` with no timeout unless given).
 */
export function runningOnR1(
  config: Partial<CoreConfig>,
  checkoutId: string,
  ask: (h: Scenario) => Scenario = (h) => h.checkout(checkoutId),
): Scenario {
  const h = scenario(config).start();
  ask(h).expect(boot("b1")).bootSucceeds("b1", "r1").expect(grant(checkoutId, "r1"));
  return h;
}
