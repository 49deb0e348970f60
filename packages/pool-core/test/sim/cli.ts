/**
 * Runs the pool simulator from the command line.
 *   npm run sim -- --seed 7            replay one seed, print its trace
 *   npm run sim -- --seeds 1000        run seeds 1..1000, print failures
 *   npm run sim -- --seeds 1000 --from 5000 --steps 2000
 * Exit code 1 when any seed fails.
 */
import { parseArgs } from "node:util";
import { formatFailure, runSeed } from "./simulator.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string" },
    from: { type: "string", default: "1" },
    steps: { type: "string", default: "400" },
    quiet: { type: "boolean", default: false },
  },
});

function toInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer, got "${text}"`);
    process.exit(2);
  }
  return value;
}

const safetySteps = toInt("steps", values.steps);

if (values.seed !== undefined) {
  const result = runSeed({ seed: toInt("seed", values.seed), safetySteps, trace: true });
  if (!values.quiet) console.log(result.trace.join("\n"));
  if (result.ok) {
    console.log(`SEED=${result.seed} ok ${JSON.stringify(result.stats)}`);
  } else {
    console.log(formatFailure(result, 0));
    process.exitCode = 1;
  }
} else {
  const count = toInt("seeds", values.seeds ?? "1000");
  const from = toInt("from", values.from);
  let failures = 0;
  let steps = 0;
  for (let seed = from; seed < from + count; seed += 1) {
    const result = runSeed({ seed, safetySteps });
    steps += result.stats.steps;
    if (!result.ok) {
      failures += 1;
      const replay = runSeed({ seed, safetySteps, trace: true });
      console.log(formatFailure(replay));
    }
  }
  console.log(`${count - failures}/${count} seeds ok (${steps} steps)`);
  if (failures > 0) process.exitCode = 1;
}
