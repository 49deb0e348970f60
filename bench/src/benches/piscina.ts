/**
 * Bench 2, against piscina: 2 local runners vs piscina with 2 worker threads, the same
 * trivial echo at concurrency 64. Goal (issue 7): ≥ 1.0× piscina's throughput, with the
 * runners' default execution (worker threads). The same runners inline are measured beside
 * it: on an echo each call's hop to a thread is most of its cost, and inline is what the
 * runner-agent README recommends for work that light.
 */
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { BenchPoolOptions } from "../flame.js";
import { compareClosedLoops, withFlamePool } from "../flame-side.js";
import { callsPerSecond, median } from "../measure.js";
import { type Figure, figure, type Goal } from "../report.js";
import type { Scale } from "../scale.js";

const taskFile = fileURLToPath(new URL("../../fixtures/piscina-task.mjs", import.meta.url));

export async function piscinaBench(scale: Scale): Promise<Figure[]> {
  const piscina = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2 });
  try {
    return [
      await versusPiscina(
        scale,
        piscina,
        "throughput @64, 2 workers",
        {},
        {
          on: "ratio",
          op: ">=",
          target: 1.0,
        },
      ),
      await versusPiscina(
        scale,
        piscina,
        "throughput @64, 2 workers (inline)",
        { execution: { mode: "inline" } },
        null,
      ),
    ];
  } finally {
    await piscina.destroy();
  }
}

/** 2 runners (with `execution` as given) against piscina's 2 threads, alternating rounds. */
async function versusPiscina(
  scale: Scale,
  piscina: Piscina,
  measure: string,
  execution: Pick<BenchPoolOptions, "execution">,
  goal: Goal | null,
): Promise<Figure> {
  const load = { calls: scale.pick(30_000, 256), concurrency: 64 };
  return withFlamePool(
    "bench-piscina",
    { min: 2, max: 2, maxConcurrency: 64, ...execution },
    async (side) => {
      const input = { n: 1 };
      const threads = (): Promise<unknown> => piscina.run(input);
      const flame = side ? (): Promise<unknown> => side.pool.call(side.fixtures.echo, input) : null;
      const runs = await compareClosedLoops(threads, flame, {
        load,
        warmup: { calls: scale.pick(5_000, 20), concurrency: 64 },
        rounds: scale.rounds,
      });
      return figure({
        bench: "vs piscina",
        measure,
        unit: "calls/s",
        value: median(runs.flame.map(callsPerSecond)),
        baselineName: "piscina 2 threads",
        baseline: median(runs.baseline.map(callsPerSecond)),
        goal,
      });
    },
  );
}
