/**
 * The bench never rots: `run.ts --smoke` (tiny iteration counts) must complete and produce
 * every figure of issue 7 with a finite, positive ratio to its baseline. No timing is
 * asserted here: speed goals are judged by the full `npm run bench`, not by a test.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { exitOf, killAndWait } from "../src/processes.js";
import type { SuiteReport } from "../src/report.js";

const benchDir = fileURLToPath(new URL("..", import.meta.url));

/** Every figure the suite promises, by bench and measure. */
const expectedFigures = [
  ["call path", "p50 latency @1 (threads)"],
  ["call path", "throughput @1 (threads)"],
  ["call path", "throughput @1: the thread floor vs raw"],
  ["call path", "throughput @1 (threads) vs the thread floor"],
  ["call path", "p50 latency @1 (threads) vs the thread floor"],
  ["call path", "p50 latency @16 (threads)"],
  ["call path", "throughput @16 (threads)"],
  ["call path", "throughput @16: the thread floor vs raw"],
  ["call path", "throughput @16 (threads) vs the thread floor"],
  ["call path", "p50 latency @128 (threads)"],
  ["call path", "throughput @128 (threads)"],
  ["call path", "throughput @128: the thread floor vs raw"],
  ["call path", "throughput @128 (threads) vs the thread floor"],
  ["call path", "heap allocated per call @16, parent (threads) vs the thread floor's"],
  ["call path", "CPU per call @16, parent (threads)"],
  ["call path", "CPU per call @16, runner (threads)"],
  ["call path", "CPU per call @16, both processes (threads)"],
  ["call path", "CPU per call @16, both processes: the thread floor"],
  ["call path", "CPU per call @1, the caller's main thread: pool / the floor"],
  ["call path", "CPU per call @1, the runner's main thread: pool / the floor"],
  ["call path", "CPU per call @1, the worker thread: pool / the floor"],
  ["call path", "CPU per call @1, every other thread (V8's GC and compiler): pool / the floor"],
  [
    "call path",
    "critical path @1, to the runner (ws send → its main thread has the frame): pool vs the floor",
  ],
  [
    "call path",
    "critical path @1, the runner's main thread: call in → posted to a thread: pool vs the floor",
  ],
  [
    "call path",
    "critical path @1, the thread hop both ways and the thread's work: pool vs the floor",
  ],
  ["call path", "critical path @1, the runner's main thread: answer in → sent: pool vs the floor"],
  [
    "call path",
    "critical path @1, back to the parent (ws send → the parent has the frame): pool vs the floor",
  ],
  ["call path", "critical path @1, the parent: answer in → next call sent: pool vs the floor"],
  ["call path", "critical path @1, the round trip (its legs' sum): pool vs the floor"],
  ["call path", "thread hop floor: postMessage round trip p50, idle threads"],
  ["call path", "thread hop floor: woken by Atomics.notify (piscina's) vs postMessage alone"],
  ["call path", "p50 latency @1: the thread floor vs inline p50 @1 + thread hop"],
  ["call path", "p50 latency @1: the floor with a link per thread vs inline p50 @1 + thread hop"],
  ["call path", "p50 latency @1: the floor with a link per thread vs the thread floor"],
  ["call path", "p50 latency @1 (threads) vs inline p50 @1 + thread hop"],
  ["call path", "p50 latency @1 (inline)"],
  ["call path", "throughput @1 (inline)"],
  ["call path", "p50 latency @16 (inline)"],
  ["call path", "throughput @16 (inline)"],
  ["call path", "p50 latency @128 (inline)"],
  ["call path", "throughput @128 (inline)"],
  ["vs piscina", "throughput @64, 2 workers"],
  [
    "vs piscina",
    "throughput @64, 2 workers: the thread floor (a raw peer per runner, as many threads) vs piscina",
  ],
  ["vs piscina", "throughput @64, 2 workers vs the thread floor"],
  ["vs piscina", "throughput @64, 2 workers (inline)"],
  ["CPU-bound", "throughput ~20 ms task, 2 threads vs piscina"],
  ["CPU-bound", "task run time p50, ~20 ms task (pool / piscina)"],
  ["CPU-bound", "thread idle between tasks p50, ~20 ms task"],
  ["CPU-bound", "throughput ~20 ms task: the floor (raw ws+v8 on 2 threads) vs piscina"],
  [
    "CPU-bound",
    "throughput ~20 ms task: the floor with one call per thread (2 callers) vs piscina",
  ],
  ["CPU-bound", "throughput ~20 ms task, 2 threads vs the floor"],
  ["CPU-bound", "thread idle between tasks p50, ~20 ms task: the floor"],
  ["CPU-bound", "task run time p50, ~20 ms task: the floor / piscina"],
  ["CPU-bound", "CPU per task, all threads of both processes, ~20 ms task (pool / piscina)"],
  ["CPU-bound", "CPU per task, all threads of both processes, ~20 ms task: pool / the floor"],
  ["CPU-bound", "main threads' CPU per task (caller's + runner's), ~20 ms task (pool / piscina)"],
  ["CPU-bound", "CPU per task, the caller's main thread, ~20 ms task: pool / the floor"],
  ["CPU-bound", "CPU per task, the runner's main thread, ~20 ms task: pool / the floor"],
  ["CPU-bound", "CPU per task, the 2 worker threads, ~20 ms task: pool / the floor"],
  [
    "CPU-bound",
    "CPU per task, every other thread (V8's GC and compiler), ~20 ms task: pool / the floor",
  ],
  ["CPU-bound", "cores busy while measured (of 2), ~20 ms task (pool / piscina)"],
  ["CPU-bound", "cores busy while measured (of 2), ~20 ms task: the floor / piscina"],
  ["CPU-bound", "throughput ~20 ms task, 2 threads vs 1 thread"],
  ["CPU-bound", "throughput ~20 ms task: piscina 2 threads vs 1 thread"],
  ["CPU-bound", "throughput ~3 ms task, 2 threads vs piscina"],
  ["CPU-bound", "task run time p50, ~3 ms task (pool / piscina)"],
  ["CPU-bound", "thread idle between tasks p50, ~3 ms task"],
  ["CPU-bound", "throughput ~3 ms task: the floor (raw ws+v8 on 2 threads) vs piscina"],
  ["CPU-bound", "throughput ~3 ms task: the floor with one call per thread (2 callers) vs piscina"],
  ["CPU-bound", "throughput ~3 ms task, 2 threads vs the floor"],
  ["CPU-bound", "thread idle between tasks p50, ~3 ms task: the floor"],
  ["CPU-bound", "task run time p50, ~3 ms task: the floor / piscina"],
  ["CPU-bound", "CPU per task, all threads of both processes, ~3 ms task (pool / piscina)"],
  ["CPU-bound", "CPU per task, all threads of both processes, ~3 ms task: pool / the floor"],
  ["CPU-bound", "main threads' CPU per task (caller's + runner's), ~3 ms task (pool / piscina)"],
  ["CPU-bound", "CPU per task, the caller's main thread, ~3 ms task: pool / the floor"],
  ["CPU-bound", "CPU per task, the runner's main thread, ~3 ms task: pool / the floor"],
  ["CPU-bound", "CPU per task, the 2 worker threads, ~3 ms task: pool / the floor"],
  [
    "CPU-bound",
    "CPU per task, every other thread (V8's GC and compiler), ~3 ms task: pool / the floor",
  ],
  ["CPU-bound", "cores busy while measured (of 2), ~3 ms task (pool / piscina)"],
  ["CPU-bound", "cores busy while measured (of 2), ~3 ms task: the floor / piscina"],
  ["CPU-bound", "throughput ~3 ms task, a call queued behind each of 2 threads (maxConcurrency 4)"],
  ["core scaling", "checkout+checkin, 10k runners"],
  ["core scaling", "min runner crash+replace, 10k min runners"],
  ["core scaling", "floor: Map has+set+get+delete of a new id, 5k entries"],
  ["core scaling", "floor: Map get+delete oldest id, set a new one, 10k entries"],
  ["cold start", "empty pool → first result"],
  ["cold start", "the thread floor: node + ws + 1 thread loading the functions module"],
  ["cold start", "empty pool → first result vs the thread floor"],
  ["cold start", "empty pool → first result (inline)"],
  ["memory", "parent heap per idle runner"],
  ["memory", "parent heap per waiting caller"],
  ["memory", "runner-agent idle RSS"],
  ["memory", "RSS floor: node + ws + 2 workers that load the entry"],
  ["memory", "runner-agent RSS, 2 threads, up after one call"],
  ["memory", "runner-agent idle RSS, 2 threads"],
  ["memory", "runner-agent idle RSS, 2 threads, vs the floor"],
  ["memory", "RSS floor after the same calls: raw peer on 2 threads that load the entry"],
  ["memory", "runner-agent idle RSS, 2 threads, vs the floor after the same calls"],
  [
    "memory",
    "runner-agent RSS, 2 threads, after sustained calls @16 vs the floor after the same calls",
  ],
  ["payload", "1 KB args @8"],
  ["payload", "1 KB args @8: the thread floor vs raw"],
  ["payload", "1 KB args @8 vs the thread floor"],
  ["payload", "1 KB args and result @8"],
  ["payload", "1 KB args and result @8: the thread floor vs raw"],
  ["payload", "1 KB args and result @8 vs the thread floor"],
  ["payload", "64 KB args @8"],
  ["payload", "64 KB args @8: the thread floor vs raw"],
  ["payload", "64 KB args @8 vs the thread floor"],
  ["payload", "64 KB args and result @8"],
  ["payload", "64 KB args and result @8: the thread floor vs raw"],
  ["payload", "64 KB args and result @8 vs the thread floor"],
  ["payload", "1 MB args @8"],
  ["payload", "1 MB args @8: the thread floor vs raw"],
  ["payload", "1 MB args @8 vs the thread floor"],
  ["payload", "1 MB args and result @8"],
  ["payload", "1 MB args and result @8: the thread floor vs raw"],
  ["payload", "1 MB args and result @8 vs the thread floor"],
  ["payload", "16 MB args @8"],
  ["payload", "16 MB args @8: the thread floor vs raw"],
  ["payload", "16 MB args @8 vs the thread floor"],
  ["payload", "16 MB args and result @8"],
  ["payload", "16 MB args and result @8: the thread floor vs raw"],
  ["payload", "16 MB args and result @8 vs the thread floor"],
] as const;

/** Generous: the smoke run takes seconds, but other engineers load the same 2 cores. */
const SMOKE_TIMEOUT_MS = 160_000;

/**
 * V8's helper threads may not run at all during a smoke run's few calls (8 tasks, 30 calls at
 * concurrency 1), so their CPU can be 0 on either side (the ratio then means nothing); it must
 * still be measured, never missing.
 */
function mayBeZeroInSmoke(measure: string): boolean {
  return /^CPU per (task|call @1), every other thread/.test(measure);
}

describe("bench --smoke", () => {
  let bench: ChildProcess | undefined;
  let outDir: string | undefined;

  afterEach(async () => {
    if (bench) await killAndWait(bench, 5_000);
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it(
    "completes and reports every figure with a finite positive ratio to its baseline",
    async () => {
      outDir = await mkdtemp(join(tmpdir(), "flame-bench-smoke-"));
      const out = join(outDir, "smoke.json");
      let output = "";
      bench = spawn(
        process.execPath,
        [
          "--expose-gc",
          "--no-flush-bytecode",
          "--import",
          "tsx",
          "run.ts",
          "--smoke",
          "--out",
          out,
        ],
        { cwd: benchDir, stdio: ["ignore", "pipe", "pipe"] },
      );
      bench.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      bench.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      const exit = await exitOf(bench);
      expect(exit, output).toEqual({ code: 0, signal: null });

      const report = JSON.parse(await readFile(out, "utf8")) as SuiteReport;
      expect(report.mode).toBe("smoke");
      expect(report.failures, output).toEqual([]);
      const produced = report.figures.map((f) => [f.bench, f.measure]);
      expect(produced).toEqual(expectedFigures.map(([b, m]) => [b, m]));
      for (const f of report.figures) {
        const where = `${f.bench} / ${f.measure}: ${JSON.stringify(f)}`;
        if (mayBeZeroInSmoke(f.measure)) {
          expect(Number.isFinite(f.value) && f.value >= 0, where).toBe(true);
          expect(Number.isFinite(f.baseline) && f.baseline >= 0, where).toBe(true);
          continue;
        }
        // JSON turns NaN and Infinity into null, so a missing figure fails here too.
        expect(Number.isFinite(f.value) && f.value > 0, where).toBe(true);
        expect(Number.isFinite(f.baseline) && f.baseline > 0, where).toBe(true);
        expect(Number.isFinite(f.ratio) && f.ratio > 0, where).toBe(true);
        expect(f.ratio).toBeCloseTo(f.value / f.baseline, 6);
        // A figure with a goal says whether it was met; one without says nothing.
        if (f.goal) expect(typeof f.met, where).toBe("boolean");
        else expect(f.met, where).toBeNull();
      }
      // The table a person reads names every figure.
      for (const [, measure] of expectedFigures) expect(output).toContain(measure);
    },
    SMOKE_TIMEOUT_MS,
  );
});
