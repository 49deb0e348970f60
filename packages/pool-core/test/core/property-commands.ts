/**
 * The commands the core's property tests (properties.test.ts) generate, and how each becomes an
 * event for the state it meets: random configs and command sequences for fast-check.
 */
import fc from "fast-check";
import type { CoreConfig, CoreEvent, PoolState } from "../../src/core/index.js";

/**
 * Commands name their targets by position ("the 2nd pending boot") and are resolved against
 * the state when they run, so sequences stay meaningful while fast-check shrinks them. A
 * `stray` target is an id the core never issued or already forgot (a known race).
 */
export type Command =
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "tick" }
  | { readonly kind: "checkout"; readonly timeoutMs: number | null }
  /** A call pinned to the `pick`-th holder of tracked resources (issue 24). */
  | {
      readonly kind: "pinned";
      readonly pick: number;
      readonly stray: boolean;
      readonly timeoutMs: number | null;
    }
  | {
      readonly kind:
        | "checkin"
        | "callerGone"
        | "convertToChild"
        | "convertToTracked"
        | "unqueued"
        | "checkinHolder"
        | "bootSucceeded"
        | "bootFailed"
        | "runnerDown"
        | "runnerLeaving";
      readonly pick: number;
      readonly stray: boolean;
    }
  | { readonly kind: "idleChecked"; readonly pick: number; readonly shutdown: boolean }
  | {
      readonly kind: "resize";
      readonly min: number;
      readonly max: number;
      readonly buffer: number;
    };

const target = fc.record({
  pick: fc.nat({ max: 20 }),
  stray: fc.nat({ max: 9 }).map((n) => n === 0),
});
const targeted = (kind: Exclude<Extract<Command, { stray: boolean }>["kind"], "pinned">) =>
  target.map((t): Command => ({ kind, ...t }));

export const configArb: fc.Arbitrary<CoreConfig> = fc
  .record({
    min: fc.integer({ min: 0, max: 3 }),
    extra: fc.integer({ min: 0, max: 3 }),
    maxConcurrency: fc.integer({ min: 1, max: 4 }),
    idleShutdownAfterMs: fc.option(fc.integer({ min: 1, max: 3_000 })),
    minIdleShutdownAfterMs: fc.option(fc.integer({ min: 1, max: 3_000 }), { freq: 4 }),
    hasIdleCheck: fc.boolean(),
    singleUse: fc.boolean(),
    prefetch: fc.boolean(),
    bootRetryDelayMs: fc.integer({ min: 1, max: 2_000 }),
    deadlineGraceMs: fc.integer({ min: 0, max: 2_000 }),
    buffer: fc.integer({ min: 0, max: 2 }),
    maxWaiting: fc.option(fc.integer({ min: 0, max: 4 })),
    budget: fc.option(
      fc.record({
        runnerMs: fc.integer({ min: 1, max: 20_000 }),
        windowMs: fc.integer({ min: 1, max: 60_000 }),
      }),
      { freq: 3 },
    ),
    bootTimeoutMs: fc.oneof(fc.integer({ min: 1, max: 3_000 }), fc.constant(30_000)),
    shutdownTimeoutMs: fc.integer({ min: 1, max: 10_000 }),
    killGraceMs: fc.integer({ min: 1, max: 5_000 }),
  })
  .map(({ extra, ...c }) => ({
    name: "prop",
    runnerIdPrefix: "r",
    ...c,
    max: Math.max(1, c.min + extra),
  }));

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .option(fc.integer({ min: 0, max: 3_000 }))
      .map((timeoutMs): Command => ({ kind: "checkout", timeoutMs })),
  },
  { weight: 5, arbitrary: targeted("checkin") },
  { weight: 2, arbitrary: targeted("callerGone") },
  { weight: 1, arbitrary: targeted("convertToChild") },
  { weight: 3, arbitrary: targeted("convertToTracked") },
  { weight: 2, arbitrary: targeted("unqueued") },
  { weight: 1, arbitrary: targeted("checkinHolder") },
  {
    weight: 5,
    arbitrary: fc
      .record({
        pick: fc.nat({ max: 20 }),
        stray: fc.nat({ max: 9 }).map((n) => n === 0),
        timeoutMs: fc.option(fc.integer({ min: 0, max: 3_000 })),
      })
      .map((c): Command => ({ kind: "pinned", ...c })),
  },
  { weight: 5, arbitrary: targeted("bootSucceeded") },
  { weight: 2, arbitrary: targeted("bootFailed") },
  { weight: 2, arbitrary: targeted("runnerDown") },
  { weight: 1, arbitrary: targeted("runnerLeaving") },
  {
    weight: 1,
    arbitrary: fc
      .record({ pick: fc.nat({ max: 20 }), shutdown: fc.boolean() })
      .map((c): Command => ({ kind: "idleChecked", ...c })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        min: fc.integer({ min: 0, max: 3 }),
        extra: fc.integer({ min: 0, max: 3 }),
        buffer: fc.integer({ min: 0, max: 2 }),
      })
      .map(
        ({ min, extra, buffer }): Command => ({
          kind: "resize",
          min,
          max: Math.max(1, min + extra),
          buffer,
        }),
      ),
  },

  { weight: 1, arbitrary: fc.constant<Command>({ kind: "tick" }) },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 4_000 }).map((ms): Command => ({ kind: "advance", ms })),
  },
);

function nth(ids: Iterable<string>, pick: number): string | undefined {
  const list = [...ids];
  return list.length === 0 ? undefined : list[pick % list.length];
}

/** Turns a command into an event for the current state (null: nothing to aim at). */
export function resolve(state: PoolState, command: Command, fresh: () => number): CoreEvent | null {
  switch (command.kind) {
    case "advance":
      return null;
    case "tick":
      return { type: "tick" };
    case "checkout":
      return { type: "checkout", checkoutId: `c${fresh()}`, timeoutMs: command.timeoutMs };
    case "pinned": {
      const holder = command.stray ? undefined : nth(state.holders.keys(), command.pick);
      const on = holder ?? nth(state.checkouts.keys(), command.pick) ?? `stray${command.pick}`;
      return { type: "checkout", checkoutId: `p${fresh()}`, timeoutMs: command.timeoutMs, on };
    }
    case "resize":
      return { type: "resize", min: command.min, max: command.max, buffer: command.buffer };
    case "idleChecked": {
      const runnerId = nth(state.runners.keys(), command.pick) ?? `r-stray${command.pick}`;
      return { type: "idleChecked", runnerId, shutdown: command.shutdown };
    }
    default:
      break;
  }
  const stray = `stray${command.pick}`;
  switch (command.kind) {
    case "checkin":
    case "callerGone":
    case "convertToChild":
    case "convertToTracked":
    case "checkinHolder": {
      const running = [...state.pinned.values()].filter((p) => p.running).map((p) => p.id);
      const pool =
        command.kind === "callerGone"
          ? [...state.waiters.keys(), ...state.checkouts.keys(), ...state.pinned.keys()]
          : command.kind === "checkin"
            ? [...state.checkouts.keys(), ...running]
            : command.kind === "checkinHolder"
              ? state.holders.keys()
              : state.checkouts.keys();
      const checkoutId = (command.stray ? undefined : nth(pool, command.pick)) ?? stray;
      if (command.kind === "checkin" || command.kind === "checkinHolder") {
        return { type: "checkin", checkoutId, reason: "done" };
      }
      if (command.kind === "callerGone") return { type: "callerGone", checkoutId };
      if (command.kind === "convertToTracked") return { type: "convertToTracked", checkoutId };
      return { type: "convertToChild", checkoutId, childId: `child-${checkoutId}` };
    }
    case "unqueued": {
      // Mostly a call a runner holds queued (what a correct runner gives back), else any.
      const queued = [...state.queuedOn].flatMap((r) => r.queued.map((q) => q.checkout.id));
      const pool = queued.length > 0 && command.pick % 4 !== 0 ? queued : state.checkouts.keys();
      const checkoutId = (command.stray ? undefined : nth(pool, command.pick)) ?? stray;
      return { type: "unqueued", checkoutId };
    }
    case "bootSucceeded":
    case "bootFailed": {
      const bootId =
        (command.stray ? undefined : nth(state.pendingBoots.keys(), command.pick)) ?? stray;
      if (command.kind === "bootFailed") {
        return { type: "bootFailed", bootId, error: "boom", permanent: command.pick % 3 === 0 };
      }
      // A stray success reuses a finished boot's id half the time: a duplicate report.
      const dup = command.stray && command.pick % 2 === 0 ? `b${command.pick}` : undefined;
      // Runners of 1 to 3 threads: with prefetch, that many calls may wait queued on each.
      return { type: "bootSucceeded", bootId: dup ?? bootId, threads: 1 + (command.pick % 3) };
    }
    case "runnerDown":
    case "runnerLeaving": {
      const runnerId =
        (command.stray ? undefined : nth(state.runners.keys(), command.pick)) ?? stray;
      return command.kind === "runnerDown"
        ? { type: "runnerDown", runnerId, reason: "crash" }
        : { type: "runnerLeaving", runnerId, reason: "single_use" };
    }
  }
}
