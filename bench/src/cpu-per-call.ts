/**
 * CPU per call of the two processes of a link (the bench's parent and its peer or runner),
 * from Linux's per-thread run time in nanoseconds (/proc/<pid>/task/<tid>/schedstat; the
 * 10 ms utime/stime ticks threadCpuMs reads are too coarse for a short run). Where both cores
 * are busy, throughput follows the CPU a call costs in all threads together, so these say
 * what the thread hop adds whatever the machine's load.
 */
import { readdirSync, readFileSync } from "node:fs";
import { type LoadOptions, runClosedLoop } from "./measure.js";

export interface CpuPerCall {
  readonly parentUs: number;
  readonly peerUs: number;
}

/** Nanoseconds the main thread of `pid` (the thread whose id is the process id) has run so far. */
export function mainThreadCpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]);
}

/** Nanoseconds all live threads of `pid` have run so far; a thread that ended is not counted. */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

/** Runs `load` once and returns the CPU µs per call used by this process and by `peerPid`. */
export async function measureCpuPerCall(
  peerPid: number,
  callOnce: () => Promise<unknown>,
  load: LoadOptions,
): Promise<CpuPerCall> {
  const parentBefore = processCpuNs(process.pid);
  const peerBefore = processCpuNs(peerPid);
  await runClosedLoop(callOnce, load);
  const perCallUs = (ns: number): number => ns / 1000 / load.calls;
  return {
    parentUs: perCallUs(processCpuNs(process.pid) - parentBefore),
    peerUs: perCallUs(processCpuNs(peerPid) - peerBefore),
  };
}
