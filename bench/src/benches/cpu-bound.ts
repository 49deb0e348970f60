/**
 * Bench 7 (issue 11), CPU-bound work: a fixed chunk of pure-JS work (~20 ms, calibrated at
 * start) run by one runner on 2 worker threads against piscina with 2 threads, and by one
 * runner on 2 threads against one on 1 thread. Goals: ≥ 0.95× piscina; ≥ 1.8× the 1-thread
 * runner (on a 2-core machine, so also a check that both cores are used).
 */
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { work } from "../../fixtures/work.mjs";
import { alternateRuns, withFlamePool } from "../flame-side.js";
import { callsPerSecond, median, runClosedLoop } from "../measure.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";

const taskFile = fileURLToPath(new URL("../../fixtures/piscina-work.mjs", import.meta.url));
const TARGET_TASK_MS = 20;

/** Iterations of `work` that take about TARGET_TASK_MS here (median of a few tries). */
function calibrate(): number {
  let iterations = 100_000;
  for (;;) {
    const startedMs = performance.now();
    work(iterations);
    const tookMs = performance.now() - startedMs;
    if (tookMs >= 5) return Math.round((iterations * TARGET_TASK_MS) / tookMs);
    iterations *= 4;
  }
}

export async function cpuBoundBench(scale: Scale): Promise<Figure[]> {
  work(1_000_000); // warm the JIT before calibrating
  const iterations = calibrate();
  const input = { iterations };
  // 4 callers keep 2 threads busy with one task queued behind each.
  const load = { calls: scale.pick(200, 8), concurrency: 4 };
  const piscina = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2 });
  try {
    const pooled = (threads: number) => ({
      min: 1,
      max: 1,
      maxConcurrency: threads,
      execution: { threads },
    });
    return await withFlamePool("bench-cpu-2", pooled(2), (two) =>
      withFlamePool("bench-cpu-1", pooled(1), async (one) => {
        const onPiscina = (): Promise<unknown> => piscina.run(input);
        const onTwo = two
          ? (): Promise<unknown> => two.pool.call(two.fixtures.cpuWork, input)
          : null;
        const onOne = one
          ? (): Promise<unknown> => one.pool.call(one.fixtures.cpuWork, input)
          : null;
        const warmup = { calls: scale.pick(20, 2), concurrency: 4 };
        await runClosedLoop(onPiscina, warmup);
        if (onTwo) await runClosedLoop(onTwo, warmup);
        if (onOne) await runClosedLoop(onOne, warmup);
        const vsPiscina = await alternateRuns(
          scale.rounds,
          () => runClosedLoop(onPiscina, load),
          onTwo ? () => runClosedLoop(onTwo, load) : null,
        );
        const vsOneThread = await alternateRuns(
          scale.rounds,
          onOne ? () => runClosedLoop(onOne, load) : () => runClosedLoop(onPiscina, load),
          onTwo ? () => runClosedLoop(onTwo, load) : null,
        );
        const measure = `~${TARGET_TASK_MS} ms task, 2 threads`;
        return [
          figure({
            bench: "CPU-bound",
            measure: `throughput ${measure} vs piscina`,
            unit: "tasks/s",
            value: median(vsPiscina.flame.map(callsPerSecond)),
            baselineName: "piscina 2 threads",
            baseline: median(vsPiscina.baseline.map(callsPerSecond)),
            goal: { on: "ratio", op: ">=", target: 0.95 },
          }),
          figure({
            bench: "CPU-bound",
            measure: `throughput ${measure} vs 1 thread`,
            unit: "tasks/s",
            value: median(vsOneThread.flame.map(callsPerSecond)),
            baselineName: "1 runner, 1 thread",
            baseline: median(vsOneThread.baseline.map(callsPerSecond)),
            goal: { on: "ratio", op: ">=", target: 1.8 },
          }),
        ];
      }),
    );
  } finally {
    await piscina.destroy();
  }
}
