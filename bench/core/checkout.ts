/**
 * Core scaling bench: the cost of one checkout + checkin in the pure core with 10 vs 10,000
 * ready runners, and of one min-runner crash + replacement with 10 vs 10,000 min runners. The
 * least-loaded pick is bucketed by load, min-runner and active counts are counters, idle
 * deadlines are a queue without stale entries (no scan of the runners on any path), so both
 * ratios should stay near 1 (goal ≤ 1.5; FLAME scans every runner on each checkout).
 *
 * What still grows with n is the memory hierarchy: the events name runners and checkouts by id,
 * so each step looks ids up in Maps as large as the pool, and a runner that crashes at 10,000
 * was last touched thousands of steps ago (cold in cache). The same Map operations on Maps of
 * the same sizes are measured alongside (`mapFloor*`) so the core's ratio can be read against
 * that floor.
 *
 *   npx tsx bench/core/checkout.ts [--iterations 200000]
 *
 * `runCoreBench` is also called by the bench suite (bench/src/benches/core-scaling.ts).
 */
import { parseArgs } from "node:util";
import {
  type CoreConfig,
  initialState,
  type PoolState,
  step,
} from "../../packages/pool-core/src/core/index.js";

export interface CoreBenchResult {
  /** Nanoseconds per checkout+checkin with 10 ready runners. */
  readonly ns10: number;
  /** The same with 10,000 ready runners. */
  readonly ns10k: number;
  /** ns10k / ns10. */
  readonly ratio: number;
  /**
   * Nanoseconds per min-runner crash + replacement (runnerDown, then the replacement boot's
   * bootSucceeded) with 10 and 10,000 min runners: the path that counted min runners by
   * scanning all of them before the count became a counter.
   */
  readonly churnNs10: number;
  readonly churnNs10k: number;
  readonly churnRatio: number;
  /**
   * The memory-hierarchy floor: nanoseconds per the checkout path's id lookups (has, set, get,
   * delete of a new id) on a Map of 5 vs 5,000 entries (the pools' active checkouts), and per
   * the crash path's (get and delete the oldest id, set a new one) on a Map of 10 vs 10,000.
   */
  readonly mapFloorNs5: number;
  readonly mapFloorNs5k: number;
  readonly churnMapFloorNs10: number;
  readonly churnMapFloorNs10k: number;
}

/** A started pool with `runners` ready runners, half of them already holding one call. */
function readyPool(runners: number, idleAfterMs: number): { state: PoolState; nowMs: number } {
  const config: CoreConfig = {
    name: "bench",
    runnerIdPrefix: "r",
    buffer: 0,
    maxWaiting: null,
    budget: null,
    bootTimeoutMs: 30_000,
    shutdownTimeoutMs: 30_000,
    killGraceMs: 10_000,
    deadlineGraceMs: 1_000,
    min: runners,
    max: runners,
    maxConcurrency: 4,
    // Idle timers are armed and re-armed on every checkin, as in a live pool, but never
    // fire during the run (time advances 1 ms per pair): the bench measures the hot path.
    idleShutdownAfterMs: idleAfterMs,
    minIdleShutdownAfterMs: idleAfterMs,
    hasIdleCheck: false,
    singleUse: false,
    // The pool's default: its per-step checks run on the measured path too.
    prefetch: true,
    bootRetryDelayMs: 1_000,
  };
  const state = initialState(config);
  const nowMs = 1;
  const { effects } = step(state, { type: "start" }, nowMs);
  for (const effect of effects) {
    if (effect.type !== "boot") continue;
    step(state, { type: "bootSucceeded", bootId: effect.bootId }, nowMs);
  }
  // Mixed loads, as in a live pool: the least-loaded bucket is not the only non-empty one.
  for (let i = 0; i < runners / 2; i += 1) {
    step(state, { type: "checkout", checkoutId: `busy${i}`, timeoutMs: null }, nowMs);
  }
  return { state, nowMs };
}

/** Nanoseconds per min-runner crash + replacement, over `iterations` of them. */
function measureChurn(
  pool: { state: PoolState; nowMs: number; oldest?: string[]; next?: number },
  iterations: number,
): number {
  const { state } = pool;
  const nowMs = pool.nowMs;
  // Oldest idle runner first, tracked here (iterating a Map from its start after many deletes
  // walks the deleted entries: a V8 cost of the bench, not of the core). Only idle runners are
  // crashed, on both sides: crashing the oldest runner whatever its load had the 10-runner pool
  // lose its 5 busy runners in the warm-up, while the 10,000-runner pool lost its 5,000 busy
  // ones (each failing a checkout: more work per crash) in most measured rounds.
  if (pool.oldest === undefined) {
    const busy = new Set([...state.checkouts.values()].map((c) => c.runnerId));
    pool.oldest = [...state.runners.keys()].filter((id) => !busy.has(id));
  }
  const oldest = pool.oldest;
  let next = pool.next ?? 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    const victim = oldest[next++] as string;
    const { effects } = step(
      state,
      { type: "runnerDown", runnerId: victim, reason: "bench" },
      nowMs,
    );
    const boot = effects.find((e) => e.type === "boot");
    if (boot?.type !== "boot") throw new Error(`no replacement boot for ${victim}`);
    step(state, { type: "bootSucceeded", bootId: boot.bootId }, nowMs);
    oldest.push(boot.runnerId);
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  pool.next = next;
  return elapsedNs / iterations;
}

/** Nanoseconds per checkout+checkin pair over `iterations` pairs; time goes on from `pool.nowMs`. */
function measure(pool: { state: PoolState; nowMs: number }, iterations: number): number {
  const { state } = pool;
  let nowMs = pool.nowMs;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    nowMs += 1;
    const checkoutId = `k${i}`;
    const { effects } = step(state, { type: "checkout", checkoutId, timeoutMs: 30_000 }, nowMs);
    if (effects[0]?.type !== "grant") throw new Error(`checkout ${checkoutId} was not granted`);
    step(state, { type: "checkin", checkoutId, reason: "done" }, nowMs);
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  pool.nowMs = nowMs;
  return elapsedNs / iterations;
}

/** A Map of `size` entries keyed like the core's ids, and a cursor for the ids to come. */
interface MapPool {
  readonly map: Map<string, { readonly id: string }>;
  readonly ids: string[];
  next: number;
  minted: number;
}

function mapPool(size: number): MapPool {
  const map = new Map<string, { readonly id: string }>();
  const ids: string[] = [];
  for (let i = 0; i < size; i += 1) {
    const id = `m${i}`;
    map.set(id, { id });
    ids.push(id);
  }
  return { map, ids, next: 0, minted: size };
}

/** The checkout path's lookups by a new id, on a Map of the pool's active checkouts. */
function measureMapCheckout(pool: MapPool, iterations: number): number {
  const { map } = pool;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    const id = `k${pool.minted++}`;
    if (map.has(id)) throw new Error(`id ${id} already there`);
    map.set(id, { id });
    if (map.get(id) === undefined) throw new Error(`id ${id} missing`);
    map.delete(id);
  }
  return Number(process.hrtime.bigint() - started) / iterations;
}

/** The crash path's lookups: the oldest id goes, a new one comes. */
function measureMapChurn(pool: MapPool, iterations: number): number {
  const { map, ids } = pool;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    const victim = ids[pool.next++] as string;
    if (map.get(victim) === undefined) throw new Error(`id ${victim} missing`);
    map.delete(victim);
    const id = `n${pool.minted++}`;
    map.set(id, { id });
    ids.push(id);
  }
  return Number(process.hrtime.bigint() - started) / iterations;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export async function runCoreBench(options: { iterations: number }): Promise<CoreBenchResult> {
  const iterations = Math.max(1, Math.floor(options.iterations));
  const warmup = Math.min(iterations, 20_000);
  const idleAfterMs = 3_600_000 + 10 * (iterations + warmup);
  const small = readyPool(10, idleAfterMs);
  const large = readyPool(10_000, idleAfterMs);
  // Warm up both shapes so the JIT has settled before measuring.
  measure(small, warmup);
  measure(large, warmup);
  // Interleaved rounds, median of each: on shared, noisy cores a burst hits both sides.
  const rounds = 9;
  const perRound = Math.max(1, Math.ceil(iterations / rounds));
  const ns10: number[] = [];
  const ns10k: number[] = [];
  // Each round starts from a collected heap (when run with --expose-gc, as `npm run bench`
  // does): otherwise a major GC left over from the other side's round lands on whichever round
  // follows, and that alone moved the ratio between 1.1 and 1.7 from run to run.
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  for (let round = 0; round < rounds; round += 1) {
    collect();
    ns10.push(measure(small, perRound));
    collect();
    ns10k.push(measure(large, perRound));
  }
  // A quarter of the pairs: rounds of ~5,000 crashes (~10 ms), long enough that one major GC
  // (the 10,000-runner heap's, ~ms) does not decide a round's figure, as it did at 1,100.
  const churnIterations = Math.max(1, Math.floor(iterations / 4));
  const churnSmall = readyPool(10, idleAfterMs);
  const churnLarge = readyPool(10_000, idleAfterMs);
  measureChurn(churnSmall, Math.min(churnIterations, 2_000));
  measureChurn(churnLarge, Math.min(churnIterations, 2_000));
  const churn10: number[] = [];
  const churn10k: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    collect();
    churn10.push(measureChurn(churnSmall, Math.ceil(churnIterations / rounds)));
    collect();
    churn10k.push(measureChurn(churnLarge, Math.ceil(churnIterations / rounds)));
  }
  const floor = measureMapFloors(iterations, rounds, collect);
  const result = { ns10: median(ns10), ns10k: median(ns10k) };
  const churn = { churnNs10: median(churn10), churnNs10k: median(churn10k) };
  return {
    ...result,
    ratio: result.ns10k / result.ns10,
    ...churn,
    churnRatio: churn.churnNs10k / churn.churnNs10,
    ...floor,
  };
}

/** The Map floors, measured like the core: warmed alike, alternating sizes, median of rounds. */
function measureMapFloors(
  iterations: number,
  rounds: number,
  collect: () => void,
): Pick<
  CoreBenchResult,
  "mapFloorNs5" | "mapFloorNs5k" | "churnMapFloorNs10" | "churnMapFloorNs10k"
> {
  const sides = [
    { measure: measureMapCheckout, small: mapPool(5), large: mapPool(5_000), n: iterations },
    { measure: measureMapChurn, small: mapPool(10), large: mapPool(10_000), n: iterations / 4 },
  ];
  const medians = sides.map(({ measure, small, large, n }) => {
    measure(small, Math.min(n, 20_000));
    measure(large, Math.min(n, 20_000));
    const perRound = Math.max(1, Math.ceil(n / rounds));
    const smallNs: number[] = [];
    const largeNs: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      collect();
      smallNs.push(measure(small, perRound));
      collect();
      largeNs.push(measure(large, perRound));
    }
    return [median(smallNs), median(largeNs)] as const;
  });
  const [checkout, churn] = medians as [readonly [number, number], readonly [number, number]];
  return {
    mapFloorNs5: checkout[0],
    mapFloorNs5k: checkout[1],
    churnMapFloorNs10: churn[0],
    churnMapFloorNs10k: churn[1],
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iterations: { type: "string", default: "200000" } } });
  const iterations = Number(values.iterations);
  if (!Number.isInteger(iterations) || iterations <= 0) {
    throw new Error(`--iterations must be a positive integer, got "${values.iterations}"`);
  }
  const r = await runCoreBench({ iterations });
  console.log(`checkout+checkin, 10 ready runners:     ${r.ns10.toFixed(0)} ns`);
  console.log(`checkout+checkin, 10,000 ready runners: ${r.ns10k.toFixed(0)} ns`);
  console.log(`ratio 10k/10: ${r.ratio.toFixed(2)} (goal ≤ 1.5)`);
  console.log(`min runner crash+replace, 10 min runners:     ${r.churnNs10.toFixed(0)} ns`);
  console.log(`min runner crash+replace, 10,000 min runners: ${r.churnNs10k.toFixed(0)} ns`);
  console.log(`ratio 10k/10: ${r.churnRatio.toFixed(2)} (goal ≤ 1.5)`);
  const floor = r.mapFloorNs5k / r.mapFloorNs5;
  const churnFloor = r.churnMapFloorNs10k / r.churnMapFloorNs10;
  console.log(
    `floor, Map has+set+get+delete of a new id, 5 vs 5,000 entries: ${r.mapFloorNs5.toFixed(0)} / ${r.mapFloorNs5k.toFixed(0)} ns = ${floor.toFixed(2)}x`,
  );
  console.log(
    `floor, Map get+delete oldest, set new, 10 vs 10,000 entries: ${r.churnMapFloorNs10.toFixed(0)} / ${r.churnMapFloorNs10k.toFixed(0)} ns = ${churnFloor.toFixed(2)}x`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
