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
import { type Command, commandArb, configArb, resolve } from "./property-commands.js";

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
