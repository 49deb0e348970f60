/** Heap measurements for the memory bench: settled object heap after full collections. */
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  // Not started with --expose-gc: expose it now (supported by V8 at runtime).
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

const collect = collector();
// V8 drops the bytecode of functions that have not run for a few GCs; the repeated full GCs
// below would then charge the earlier benches' freed bytecode to this one (seen as negative
// per-link figures). `npm run bench` passes the flag too; setting it here covers other runs.
setFlagsFromString("--no-flush-bytecode");

/**
 * Bytes of live objects after repeated full GCs. Code spaces are left out: the JIT compiling
 * and dropping optimised code moves them by ±100 KB between two samples (measured), which
 * would swamp the few KB per runner this bench is after.
 */
export async function settledHeapBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
  }
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith("code")) used += space.space_used_size;
  }
  return used;
}

/**
 * Heap per added unit (a runner, a link): `batches` times, add `perBatch` units with
 * `addOne` and divide the settled heap growth; the median batch is the figure.
 */
export async function heapPerUnit(
  addOne: () => Promise<void>,
  perBatch: number,
  batches: number,
): Promise<number> {
  await quiesce();
  const perUnit: number[] = [];
  for (let batch = 0; batch < batches; batch++) {
    const before = await settledHeapBytes();
    for (let i = 0; i < perBatch; i++) await addOne();
    perUnit.push(((await settledHeapBytes()) - before) / perBatch);
  }
  perUnit.sort((a, b) => a - b);
  return perUnit[Math.floor(perUnit.length / 2)]!;
}

/**
 * Waits until the settled heap stops shrinking: what earlier benches let go of (closed
 * sockets, stopped pools, their timers) is freed over a few turns of the event loop, and a
 * baseline of a few KB per link measured during that went negative in a smoke run.
 */
async function quiesce(): Promise<void> {
  let previous = await settledHeapBytes();
  for (let attempt = 0; attempt < 20; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = await settledHeapBytes();
    if (Math.abs(now - previous) < 1024) return;
    previous = now;
  }
}
