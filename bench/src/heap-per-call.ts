/**
 * Bytes this process allocates per call, garbage included: V8's sampling heap profiler, told to
 * keep the objects young and full GCs collected in its samples. Timings on this shared 2-core
 * VM swing by 10–50% between runs, while this figure moves by ~1%, so a few hundred bytes of
 * per-call work show up (issue 23: a Node timer per call was 744 of the parent's ~7,800).
 * Allocations are what the call path does; a young GC's cost then follows what survives.
 */
import { Session } from "node:inspector/promises";
import { type LoadOptions, runClosedLoop } from "./measure.js";

/** One sample per 256 bytes allocated on average: fine enough for ~5 KB per call. */
const SAMPLING_INTERVAL_BYTES = 256;

interface SamplingNode {
  readonly selfSize: number;
  readonly children: readonly SamplingNode[];
}

function totalBytes(node: SamplingNode): number {
  let total = node.selfSize;
  for (const child of node.children) total += totalBytes(child);
  return total;
}

/** Runs `load` once, sampled, and returns the bytes this process allocated per call. */
export async function allocatedBytesPerCall(
  callOnce: () => Promise<unknown>,
  load: LoadOptions,
): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: SAMPLING_INTERVAL_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await runClosedLoop(callOnce, load);
    const { profile } = await session.post("HeapProfiler.getSamplingProfile");
    await session.post("HeapProfiler.stopSampling");
    return totalBytes(profile.head as SamplingNode) / load.calls;
  } finally {
    session.disconnect();
  }
}
