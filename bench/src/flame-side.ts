/**
 * Loads the flame-ts side of the benches once. When pool-core (or its build) is not there
 * yet, benches still measure their baselines: the flame-ts figures come out as NaN and the
 * suite reports why, instead of losing the whole run.
 */
import type { Pool } from "@flame-ts/pool-core";
import type { BenchPoolOptions } from "./flame.js";
import { type LoadOptions, type LoadResult, runClosedLoop } from "./measure.js";

export type FlameModule = typeof import("./flame.js");

let loaded: Promise<FlameModule | Error> | undefined;

function load(): Promise<FlameModule | Error> {
  loaded ??= import("./flame.js").catch((error: unknown) =>
    error instanceof Error ? error : new Error(String(error)),
  );
  return loaded;
}

/** The flame-ts module, or null when it could not be loaded (see `flameLoadError`). */
export async function tryLoadFlame(): Promise<FlameModule | null> {
  const module = await load();
  return module instanceof Error ? null : module;
}

/** Why the flame-ts side could not be loaded, or null when it loaded. */
export async function flameLoadError(): Promise<Error | null> {
  const module = await load();
  return module instanceof Error ? module : null;
}

export interface FlameSide {
  readonly pool: Pool;
  readonly fixtures: FlameModule["fixtures"];
}

/** Runs `body` with a started pool, or with null when flame-ts is unavailable. */
export async function withFlamePool<T>(
  name: string,
  options: BenchPoolOptions,
  body: (side: FlameSide | null) => Promise<T>,
): Promise<T> {
  const flame = await tryLoadFlame();
  if (!flame) return body(null);
  return flame.withPool(name, options, (pool) => body({ pool, fixtures: flame.fixtures }));
}

/**
 * Alternates baseline and flame-ts runs `rounds` times (so drift on a noisy machine hits
 * both alike) and returns every run of each.
 */
export async function alternateRuns<R>(
  rounds: number,
  baseline: () => Promise<R>,
  flame: (() => Promise<R>) | null,
): Promise<{ baseline: R[]; flame: R[] }> {
  const runs = { baseline: [] as R[], flame: [] as R[] };
  for (let round = 0; round < rounds; round++) {
    runs.baseline.push(await baseline());
    if (flame) runs.flame.push(await flame());
  }
  return runs;
}

/**
 * The closed-loop comparison every throughput/latency bench makes: warm each side with
 * `warmup`, then alternate `rounds` runs of `load` (baseline first in each round). A `floor`
 * (the least any design like the pool's can cost: e.g. the raw peer on worker threads) runs
 * between the two in each round, so all three see the same machine.
 */
export async function compareClosedLoops(
  baseline: () => Promise<unknown>,
  flame: (() => Promise<unknown>) | null,
  options: {
    readonly load: LoadOptions;
    readonly warmup: LoadOptions;
    readonly rounds: number;
    readonly floor?: () => Promise<unknown>;
  },
): Promise<{ baseline: LoadResult[]; flame: LoadResult[]; floor: LoadResult[] }> {
  const { floor } = options;
  for (const side of [baseline, floor, flame]) {
    if (side) await runClosedLoop(side, options.warmup);
  }
  const floorRuns: LoadResult[] = [];
  const runs = await alternateRuns(
    options.rounds,
    async () => {
      const run = await runClosedLoop(baseline, options.load);
      if (floor) floorRuns.push(await runClosedLoop(floor, options.load));
      return run;
    },
    flame ? () => runClosedLoop(flame, options.load) : null,
  );
  return { ...runs, floor: floorRuns };
}
