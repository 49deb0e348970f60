/**
 * Bench 1, the call path: `pool.call` of a trivial function on one local runner at
 * concurrency 1, 16 and 128, against the raw ws + v8 echo between two processes, once with
 * the default worker-thread executor and once inline (issue 11).
 * Goals: threads: throughput ≥ 0.7× raw at 128, p50 ≤ 1.5× raw at 1; inline (issue 7's):
 * throughput ≥ 0.8× at 128, p50 ≤ 1.25× at 1. Beside them, the floor a thread hop puts under
 * any thread executor's latency (thread-hop.ts).
 */
import { compareClosedLoops, withFlamePool } from "../flame-side.js";
import { callsPerSecond, type LoadResult, median, percentile } from "../measure.js";
import { RawEchoServer } from "../raw-echo.js";
import { type Figure, figure, type Goal } from "../report.js";
import type { Scale } from "../scale.js";
import { threadHopP50Us } from "../thread-hop.js";

const BENCH = "call path";
const BASELINE = "raw ws+v8";

interface Level {
  readonly concurrency: number;
  readonly calls: number;
  /** Alternating baseline/flame-ts runs; the figures are the medians. */
  readonly rounds: number;
  readonly p50Goal: Goal | null;
  readonly throughputGoal: Goal | null;
}

const p50Us = (run: LoadResult): number => percentile(run.latenciesMs, 50) * 1000;

type Mode = "threads" | "inline";

const GOALS: Record<Mode, { p50: number; throughput: number }> = {
  threads: { p50: 1.5, throughput: 0.7 },
  inline: { p50: 1.25, throughput: 0.8 },
};

export async function callPathBench(scale: Scale): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const mode of ["threads", "inline"] as const) {
    figures.push(...(await callPathOf(mode, scale)));
  }
  return figures;
}

async function callPathOf(mode: Mode, scale: Scale): Promise<Figure[]> {
  const levels: Level[] = [
    {
      concurrency: 1,
      // More, shorter rounds: a latency figure at concurrency 1 moved ±10% between runs of
      // this bench on a shared 2-core VM; 7 pairs make the median steadier for ~3 s more.
      calls: scale.pick(2_000, 30),
      rounds: scale.rounds === 1 ? 1 : 7,
      p50Goal: { on: "ratio", op: "<=", target: GOALS[mode].p50 },
      throughputGoal: null,
    },
    {
      concurrency: 16,
      calls: scale.pick(16_000, 64),
      rounds: scale.rounds,
      p50Goal: null,
      throughputGoal: null,
    },
    {
      concurrency: 128,
      calls: scale.pick(30_000, 256),
      rounds: scale.rounds,
      p50Goal: null,
      throughputGoal: { on: "ratio", op: ">=", target: GOALS[mode].throughput },
    },
  ];
  const server = await RawEchoServer.listen();
  try {
    const peer = await server.spawnPeer();
    try {
      return await withFlamePool(
        `bench-call-${mode}`,
        { min: 1, max: 1, maxConcurrency: 128, execution: { mode } },
        async (side) => {
          const input = { n: 1 };
          const raw = (): Promise<unknown> => peer.call("echo", input);
          const flame = side
            ? (): Promise<unknown> => side.pool.call(side.fixtures.echo, input)
            : null;
          const figures: Figure[] = [];
          let rawP50AtOneUs = Number.NaN;
          for (const level of levels) {
            // Warm both sides at this level's concurrency first: the figures are the steady
            // state of a long-lived pool, not the JIT catching up with a new call pattern
            // (the first few thousand calls at concurrency 1 ran ~30% slower than later ones).
            const runs = await compareClosedLoops(raw, flame, {
              load: level,
              warmup: { calls: level.calls, concurrency: level.concurrency },
              rounds: level.rounds,
            });
            if (level.concurrency === 1) rawP50AtOneUs = median(runs.baseline.map(p50Us));
            figures.push(
              figure({
                bench: BENCH,
                measure: `p50 latency @${level.concurrency} (${mode})`,
                unit: "µs",
                value: median(runs.flame.map(p50Us)),
                baselineName: BASELINE,
                baseline: median(runs.baseline.map(p50Us)),
                goal: level.p50Goal,
              }),
              figure({
                bench: BENCH,
                measure: `throughput @${level.concurrency} (${mode})`,
                unit: "calls/s",
                value: median(runs.flame.map(callsPerSecond)),
                baselineName: BASELINE,
                baseline: median(runs.baseline.map(callsPerSecond)),
                goal: level.throughputGoal,
              }),
            );
          }
          if (mode === "threads") {
            // What handing a call to a thread costs at best: the p50@1 goal has to fit it.
            figures.push(
              figure({
                bench: BENCH,
                measure: "thread hop floor: postMessage round trip p50, idle threads",
                unit: "µs",
                value: await threadHopP50Us(scale.pick(5_000, 50)),
                baselineName: `${BASELINE} p50 @1`,
                baseline: rawP50AtOneUs,
                goal: null,
              }),
            );
          }
          return figures;
        },
      );
    } finally {
      await peer.close();
    }
  } finally {
    await server.close();
  }
}
