/**
 * How many runners and slots: `min`, `max`, `maxConcurrency`, `maxWaiting`, `buffer`,
 * `budget`, and `pool.resize(limits)`, which moves the same bounds at runtime.
 */
import { invalidOption } from "../errors.js";
import { LIMITS } from "../wire/index.js";
import { boolean, countOrNever, duration, integer, within } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

/** Runner time the pool may spend per rolling window (see `PoolOptions.budget`). */
export interface BudgetOption {
  /** Runner milliseconds (boot start to exit, summed over runners) allowed per window. */
  readonly runnerMs: number;
  /** The rolling window's length in milliseconds. */
  readonly windowMs: number;
}

export interface SizingOptions {
  /**
   * Most runners at once (ready, booting and draining together), ≥ 1. Required. A caller
   * that finds every runner busy and the pool at `max` waits for a slot.
   */
  readonly max: number;
  /**
   * Runners kept up even when idle, ≤ `max`. Default 0. A dead min runner is replaced.
   * Forced to 0 inside a runner (`FLAME_PARENT` or `FLAME_RUNNER=1` set), like FLAME.Parent,
   * so one app module can serve as parent and runner.
   */
  readonly min?: number;
  /**
   * Calls, casts and children one runner runs at once (its slots), ≥ 1. Default 100.
   * See README "Sizing runners for CPU-bound work".
   */
  readonly maxConcurrency?: number;
  /**
   * When every runner is busy and the pool is at `max`, send each busy runner up to one call
   * per thread that runs its functions (at most `maxConcurrency`) beyond its slots, to hold
   * queued and start the moment a slot frees, instead of waiting in the pool for a round trip
   * (on worker threads that idled a thread 0.5–1.6 ms per CPU-bound task). A queued call's
   * timeout counts while it waits there; if a slot frees on another runner first, the call is
   * taken back and runs there. Queued calls do not count toward `maxWaiting`. Never for
   * single-use runners. Default true.
   */
  readonly prefetch?: boolean;
  /**
   * Callers that may wait for a slot at once; one more fails `OVERLOADED` at once (so a flood
   * of callers cannot keep their inputs alive in memory forever). Default 10,000; `Infinity`
   * for no bound. A caller that finds a free slot is never refused.
   */
  readonly maxWaiting?: number;
  /**
   * Idle runners kept ready beyond current demand, within `max` (like Modal's buffer
   * containers): when callers take them, more boot. Idle min runners count toward it. Extra
   * runners idle out as usual (also when `resize` lowers it). Default 0.
   */
  readonly buffer?: number;
  /**
   * Runner time the pool may spend per rolling window: from each boot's start to its runner's
   * exit, summed over runners. When a boot is needed and the budget is spent, no boot starts
   * (a `budgetBlocked` event says so), and a caller that no running runner can take fails
   * `BUDGET_EXHAUSTED`. Applies to every boot, min and buffer included. Default: no budget.
   * Example: `{ runnerMs: 3_600_000, windowMs: 86_400_000 }` (one runner-hour per day).
   */
  readonly budget?: BudgetOption;
}

export interface ResolvedSizing {
  readonly min: number;
  readonly max: number;
  readonly maxConcurrency: number;
  readonly prefetch: boolean;
  /** null: no bound. */
  readonly maxWaiting: number | null;
  readonly buffer: number;
  /** null: no budget. */
  readonly budget: BudgetOption | null;
}

/**
 * Whether this process is itself a runner: FLAME_PARENT set (before the agent read it), or
 * FLAME_RUNNER=1, the non-secret marker the agent leaves once it removed FLAME_PARENT.
 */
export function isInsideRunner(env: NodeJS.ProcessEnv): boolean {
  return (
    (typeof env.FLAME_PARENT === "string" && env.FLAME_PARENT.length > 0) ||
    env.FLAME_RUNNER === "1"
  );
}

export function resolveSizing(o: SizingOptions, insideRunner: boolean): ResolvedSizing {
  const max = integer("max", o.max, 1);
  const min = insideRunner ? 0 : integer("min", o.min ?? DEFAULTS.min, 0);
  if (min > max) throw invalidOption("min", `at most max (${max})`, min);
  const maxConcurrency = within(
    "maxConcurrency",
    LIMITS.maxConcurrency,
    o.maxConcurrency ?? DEFAULTS.maxConcurrency,
  );
  const prefetch = boolean("prefetch", o.prefetch ?? DEFAULTS.prefetch);
  const maxWaiting = countOrNever("maxWaiting", o.maxWaiting ?? DEFAULTS.maxWaiting);
  const buffer = integer("buffer", o.buffer ?? DEFAULTS.buffer, 0);
  if (buffer > max) throw invalidOption("buffer", `at most max (${max})`, buffer);
  return {
    min,
    max,
    maxConcurrency,
    prefetch,
    maxWaiting,
    buffer,
    budget: resolveBudget(o.budget),
  };
}

/** Validates `pool.resize(limits)` against the pool's own constraints. */
export function resolveLimits(
  limits: { min: number; max: number; buffer?: number },
  insideRunner: boolean,
): { min: number; max: number; buffer?: number } {
  if (typeof limits !== "object" || limits === null) {
    throw invalidOption("resize", "an object { min, max, buffer? }", limits);
  }
  const max = integer("max", limits.max, 1);
  const min = insideRunner ? 0 : integer("min", limits.min, 0);
  if (min > max) throw invalidOption("min", `at most max (${max})`, min);
  if (limits.buffer === undefined) return { min, max };
  const buffer = integer("buffer", limits.buffer, 0);
  if (buffer > max) throw invalidOption("buffer", `at most max (${max})`, buffer);
  return { min, max, buffer };
}

function resolveBudget(budget: unknown): BudgetOption | null {
  if (budget === undefined) return null;
  if (typeof budget !== "object" || budget === null) {
    throw invalidOption("budget", "an object { runnerMs, windowMs }", budget);
  }
  const b = budget as Partial<BudgetOption>;
  return {
    runnerMs: duration("budget.runnerMs", b.runnerMs),
    windowMs: duration("budget.windowMs", b.windowMs),
  };
}
