/** The benches of issues 7 and 11, run one after another; a bench that fails is reported, not fatal. */
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { callPathBench } from "./benches/call-path.js";
import { coldStartBench } from "./benches/cold-start.js";
import { coreScalingBench } from "./benches/core-scaling.js";
import { cpuBoundBench } from "./benches/cpu-bound.js";
import { memoryBench } from "./benches/memory.js";
import { payloadBench } from "./benches/payload.js";
import { piscinaBench } from "./benches/piscina.js";
import { flameLoadError } from "./flame-side.js";
import type { BenchFailure, Figure, SuiteReport } from "./report.js";
import { type Scale, scaleFor } from "./scale.js";

export interface Bench {
  readonly name: string;
  run(scale: Scale): Promise<Figure[]>;
}

const benches: readonly Bench[] = [
  { name: "call-path", run: callPathBench },
  { name: "piscina", run: piscinaBench },
  { name: "cpu-bound", run: cpuBoundBench },
  { name: "core-scaling", run: coreScalingBench },
  { name: "cold-start", run: coldStartBench },
  { name: "memory", run: memoryBench },
  { name: "payload", run: payloadBench },
];

export interface SuiteOptions {
  readonly mode: "full" | "smoke";
  /** Bench names to run; every bench when empty. */
  readonly only?: readonly string[];
  /** Called after each bench, for progress output. */
  readonly onBenchDone?: (name: string, seconds: number, failure: BenchFailure | null) => void;
}

export async function runSuite(options: SuiteOptions): Promise<SuiteReport> {
  const unknown = (options.only ?? []).filter((name) => !benches.some((b) => b.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown bench ${unknown.join(", ")}; choose from ${benches.map((b) => b.name).join(", ")}`,
    );
  }
  const selected =
    options.only && options.only.length > 0
      ? benches.filter((b) => options.only!.includes(b.name))
      : benches;
  const scale = scaleFor(options.mode);
  const startedAt = new Date().toISOString();
  const suiteStartMs = performance.now();
  const figures: Figure[] = [];
  const failures: BenchFailure[] = [];
  for (const bench of selected) {
    const benchStartMs = performance.now();
    let failure: BenchFailure | null = null;
    try {
      figures.push(...(await bench.run(scale)));
    } catch (error) {
      failure = {
        bench: bench.name,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      };
      failures.push(failure);
    }
    options.onBenchDone?.(bench.name, (performance.now() - benchStartMs) / 1000, failure);
  }
  const flameError = await flameLoadError();
  if (flameError) {
    failures.push({
      bench: "flame-ts side (every flame-ts figure is NaN)",
      error: `could not load Pool/LocalBackend: ${flameError.message}. Build first: npm run build -w @flame-ts/pool-core -w @flame-ts/runner-agent`,
    });
  }
  return {
    mode: options.mode,
    startedAt,
    durationMs: performance.now() - suiteStartMs,
    machine: { node: process.version, cpus: cpus().length, platform: process.platform },
    figures,
    failures,
  };
}
