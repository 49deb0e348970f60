/**
 * Bench 3, core scaling: checkout+checkin with 10 vs 10,000 ready runners, measured by the
 * core engineer's bench/core/checkout.ts (`runCoreBench`). Goal (issue 7): ≤ 1.5×.
 */
import { runCoreBench } from "../../core/checkout.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";

export async function coreScalingBench(scale: Scale): Promise<Figure[]> {
  const result = await runCoreBench({ iterations: scale.pick(200_000, 2_000) });
  return [
    figure({
      bench: "core scaling",
      measure: "checkout+checkin, 10k runners",
      unit: "ns",
      value: result.ns10k,
      baselineName: "same, 10 runners",
      baseline: result.ns10,
      goal: { on: "ratio", op: "<=", target: 1.5 },
    }),
    figure({
      bench: "core scaling",
      measure: "min runner crash+replace, 10k min runners",
      unit: "ns",
      value: result.churnNs10k,
      baselineName: "same, 10 min runners",
      baseline: result.churnNs10,
      goal: { on: "ratio", op: "<=", target: 1.5 },
    }),
  ];
}
