/**
 * Bench 2, against piscina: 2 local runners vs piscina with 2 worker threads, the same
 * trivial echo at concurrency 64. Goal (issue 7): ≥ 1.0× piscina's throughput.
 */
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { compareClosedLoops, withFlamePool } from "../flame-side.js";
import { callsPerSecond, median } from "../measure.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";

const taskFile = fileURLToPath(new URL("../../fixtures/piscina-task.mjs", import.meta.url));

export async function piscinaBench(scale: Scale): Promise<Figure[]> {
  const load = { calls: scale.pick(30_000, 256), concurrency: 64 };
  const piscina = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2 });
  try {
    return await withFlamePool(
      "bench-piscina",
      { min: 2, max: 2, maxConcurrency: 64 },
      async (side) => {
        const input = { n: 1 };
        const threads = (): Promise<unknown> => piscina.run(input);
        const flame = side
          ? (): Promise<unknown> => side.pool.call(side.fixtures.echo, input)
          : null;
        const runs = await compareClosedLoops(threads, flame, {
          load,
          warmup: { calls: scale.pick(5_000, 20), concurrency: 64 },
          rounds: scale.rounds,
        });
        return [
          figure({
            bench: "vs piscina",
            measure: "throughput @64, 2 workers",
            unit: "calls/s",
            value: median(runs.flame.map(callsPerSecond)),
            baselineName: "piscina 2 threads",
            baseline: median(runs.baseline.map(callsPerSecond)),
            goal: { on: "ratio", op: ">=", target: 1.0 },
          }),
        ];
      },
    );
  } finally {
    await piscina.destroy();
  }
}
