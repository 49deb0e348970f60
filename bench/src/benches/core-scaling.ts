/**
 * Bench 3, core scaling: checkout+checkin with 10 vs 10,000 ready runners, and min-runner
 * crash+replace with 10 vs 10,000 min runners, measured by bench/core/checkout.ts
 * (`runCoreBench`). Goal (issues 7, 23): ≤ 1.5×. The same Map operations on Maps of the same
 * sizes are reported beside them (no goal): the memory-hierarchy floor of looking ids up.
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
    figure({
      bench: "core scaling",
      measure: "floor: Map has+set+get+delete of a new id, 5k entries",
      unit: "ns",
      value: result.mapFloorNs5k,
      baselineName: "same, 5 entries",
      baseline: result.mapFloorNs5,
      goal: null,
    }),
    figure({
      bench: "core scaling",
      measure: "floor: Map get+delete oldest id, set a new one, 10k entries",
      unit: "ns",
      value: result.churnMapFloorNs10k,
      baselineName: "same, 10 entries",
      baseline: result.churnMapFloorNs10,
      goal: null,
    }),
  ];
}
