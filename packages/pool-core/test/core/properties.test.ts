/**
 * fast-check properties: random event sequences, including ids the core never issued and
 * events out of any sensible order, keep every invariant; failures shrink to a short sequence.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CoreConfig,
  type CoreEvent,
  checkInvariants,
  initialState,
  nextDeadline,
  type PoolState,
  step,
} from "../../src/core/index.js";

/**
 * Commands name their targets by position ("the 2nd pending boot") and are resolved against
 * the state when they run, so sequences stay meaningful while fast-check shrinks them. A
 * `stray` target is an id the core never issued or already forgot (a known race).
 */
type Command =
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

const configArb: fc.Arbitrary<CoreConfig> = fc
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

const commandArb: fc.Arbitrary<Command> = fc.oneof(
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
function resolve(state: PoolState, command: Command, fresh: () => number): CoreEvent | null {
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

/** What the effects told the world, checked against what a host would accept. */
class World {
  /** Effects seen across all runs, to show the sequences reach the interesting paths. */
  static readonly seen = new Map<string, number>();
  readonly active = new Set<string>();
  readonly waiting = new Set<string>();
  /** Issue 24, modelled apart from the core: pinned call → its holder, holders, children. */
  readonly pinnedOn = new Map<string, string>();
  readonly holders = new Set<string>();
  readonly children = new Set<string>();
  /** Holders checked in while a pinned call of theirs ran: their slot ends with that call. */
  readonly releasing = new Set<string>();
  readonly runnerOf = new Map<string, string>();
  spentBefore = 0;

  /** The pinned call of `holder` that runs now, if any. */
  runningOn(holder: string): string | undefined {
    for (const id of this.active) if (this.pinnedOn.get(id) === holder) return id;
    return undefined;
  }

  /** A checkin or callerGone as the world sees it: a slot ends, maybe later (a holder). */
  end(id: string): void {
    this.waiting.delete(id);
    if (!this.active.has(id)) return;
    if (this.holders.has(id) && this.runningOn(id) !== undefined) {
      this.releasing.add(id);
      return;
    }
    this.gone(id);
    const holder = this.pinnedOn.get(id);
    if (holder !== undefined && this.releasing.has(holder)) this.gone(holder);
  }

  gone(id: string): void {
    this.active.delete(id);
    this.holders.delete(id);
    this.releasing.delete(id);
  }

  observe(state: PoolState, event: CoreEvent, nowMs: number): void {
    const id = "checkoutId" in event ? event.checkoutId : "";
    const plainActive = this.active.has(id) && !this.pinnedOn.has(id);
    if (event.type === "checkout" && !this.active.has(id) && !this.waiting.has(id)) {
      this.waiting.add(id);
      if (event.on !== undefined) this.pinnedOn.set(id, event.on);
    }
    if (event.type === "checkin" || event.type === "callerGone") this.end(id);
    // Given back (or a runner's bogus give-back, which fails its caller): waiting again.
    const given = event.type === "unqueued" ? state.checkouts.get(id) : undefined;
    if (given !== undefined && !state.holders.has(id) && given.childId === null) {
      this.active.delete(id);
      this.waiting.add(id);
    }
    if (event.type === "convertToChild" && plainActive && !this.holders.has(id)) {
      this.children.add(id);
    }
    if (event.type === "convertToTracked" && plainActive && !this.children.has(id)) {
      this.holders.add(id);
    }
    this.spentBefore = state.ledger?.spentMs(nowMs) ?? 0;
    const { effects } = step(state, event, nowMs);
    checkInvariants(state);
    const deadline = nextDeadline(state);
    if (deadline !== null && deadline <= nowMs) throw new Error(`overdue deadline ${deadline}`);
    for (const e of effects) {
      const kind =
        e.type === "reject" || e.type === "shutdownRunner"
          ? `${e.type}:${"error" in e ? e.error.code : e.reason}`
          : e.type;
      World.seen.set(kind, (World.seen.get(kind) ?? 0) + 1);
      const holder = "checkoutId" in e ? this.pinnedOn.get(e.checkoutId) : undefined;
      if (holder !== undefined)
        World.seen.set(`${e.type}:pinned`, (World.seen.get(`${e.type}:pinned`) ?? 0) + 1);
      if (e.type === "grant") {
        if (!this.waiting.delete(e.checkoutId))
          throw new Error(`grant of ${e.checkoutId}: not waiting`);
        if (holder !== undefined) this.checkPinnedGrant(e.checkoutId, holder, e.runnerId);
        this.active.add(e.checkoutId);
        this.runnerOf.set(e.checkoutId, e.runnerId);
      } else if (e.type === "reject") {
        if (!this.waiting.delete(e.checkoutId))
          throw new Error(`reject of ${e.checkoutId}: not waiting`);
      } else if (e.type === "failCheckout") {
        // Answered early (the backstop): the caller fails, the slot stays held until checkin.
        const known = this.active.has(e.checkoutId);
        if (!known) throw new Error(`fail of ${e.checkoutId}: not active`);
        if (!e.answeredEarly) this.gone(e.checkoutId);
      } else if (e.type === "boot" && state.config.budget !== null) {
        // The budget is never exceeded by a boot the core started.
        if (this.spentBefore >= state.config.budget.runnerMs) {
          throw new Error(`boot ${e.bootId} started with ${this.spentBefore} ms spent`);
        }
      } else if (e.type === "shutdownRunner" && e.reason !== "stop") {
        const runner = state.runners.get(e.runnerId);
        if (runner !== undefined && runner.load > 0)
          throw new Error(`busy ${e.runnerId} shut down`);
      }
    }
    if (event.type === "checkout" && event.on !== undefined && this.waiting.has(id)) {
      World.seen.set("pinned:queued", (World.seen.get("pinned:queued") ?? 0) + 1);
    }
    let runningPinned = 0;
    for (const p of state.pinned.values()) if (p.running) runningPinned += 1;
    if (this.active.size !== state.checkouts.size + runningPinned) {
      throw new Error(
        `world sees ${this.active.size} active checkouts, core ${state.checkouts.size} + ${runningPinned} pinned`,
      );
    }
  }

  /** A pinned call runs on its holder's runner, alone on that holder, while the holder lives. */
  checkPinnedGrant(id: string, holder: string, runnerId: string): void {
    if (!this.holders.has(holder) || this.releasing.has(holder)) {
      throw new Error(`pinned ${id} granted on ${holder}, which holds nothing (or is released)`);
    }
    const other = this.runningOn(holder);
    if (other !== undefined)
      throw new Error(`pinned ${id} granted while ${other} runs on ${holder}`);
    if (this.runnerOf.get(holder) !== runnerId) {
      throw new Error(
        `pinned ${id} granted on ${runnerId}, its holder is on ${this.runnerOf.get(holder)}`,
      );
    }
  }
}

function run(config: CoreConfig, commands: readonly Command[], stopAt: number | null): void {
  const state = initialState(config);
  const world = new World();
  let nowMs = 0;
  let counter = 0;
  const fresh = () => ++counter;
  world.observe(state, { type: "start" }, nowMs);
  commands.forEach((command, index) => {
    // Odd positions drain (with or without a bound) instead of stopping at once.
    if (index === stopAt) {
      const event: CoreEvent =
        stopAt % 2 === 0
          ? { type: "stop" }
          : { type: "drain", timeoutMs: stopAt % 4 === 1 ? null : stopAt * 100 };
      world.observe(state, event, nowMs);
    }
    if (command.kind === "advance") {
      const targetMs = nowMs + command.ms;
      for (let at = nextDeadline(state); at !== null && at <= targetMs; at = nextDeadline(state)) {
        nowMs = at;
        world.observe(state, { type: "tick" }, nowMs);
      }
      nowMs = targetMs;
      return;
    }
    const event = resolve(state, command, fresh);
    if (event !== null) world.observe(state, event, nowMs);
  });
}

/** Random sequences checked against every invariant; `seed` fixes them (null: a fresh seed). */
function exploreSequences(seed: number | null): void {
  fc.assert(
    fc.property(
      configArb,
      fc.array(commandArb, { maxLength: 120, size: "max" }),
      (config, commands) => {
        run(config, commands, null);
      },
    ),
    { numRuns: 400, ...(seed === null ? {} : { seed }) },
  );
}

function exploreStops(seed: number | null): void {
  fc.assert(
    fc.property(
      configArb,
      fc.array(commandArb, { maxLength: 60, size: "max" }),
      fc.nat({ max: 59 }),
      (config, commands, stopAt) => {
        run(config, commands, stopAt);
      },
    ),
    { numRuns: 200, ...(seed === null ? {} : { seed }) },
  );
}

/**
 * How often the generators reach each effect is a property of the generators, not of luck: it
 * is measured under a fixed seed, so it cannot fail at random (an unseeded count of a rare
 * effect, BOOT_FAILED, fell under its bound in CI). The invariants run on fresh seeds too.
 */
const COVERAGE_SEED = 20_261_206;

describe("core properties", () => {
  it("random event sequences keep every invariant", () => {
    exploreSequences(null);
  });

  it("... and so do sequences with a stop or a drain somewhere in them", () => {
    exploreStops(null);
  });

  it("the sequences reach every interesting effect (fixed seed)", () => {
    World.seen.clear();
    exploreSequences(COVERAGE_SEED);
    const seen = Object.fromEntries(World.seen);
    for (const kind of [
      "grant",
      "boot",
      "failCheckout",
      "reject:TIMEOUT",
      "shutdownRunner:idle",
      "shutdownRunner:resize",
      "checkIdle",
      "reject:OVERLOADED",
      "reject:BUDGET_EXHAUSTED",
      "reject:BOOT_FAILED",
      "abortBoot",
      "killRunner",
      // issue 24: pinned calls run, queue, time out and lose their resources
      "grant:pinned",
      "reject:pinned",
      "failCheckout:pinned",
      "reject:RESOURCE_GONE",
      "pinned:queued",
    ]) {
      expect(seen[kind] ?? 0, `${kind} in ${JSON.stringify(seen)}`).toBeGreaterThan(20);
    }
    World.seen.clear();
    exploreStops(COVERAGE_SEED);
    expect(World.seen.get("stopped") ?? 0).toBeGreaterThan(20);
  });
});
