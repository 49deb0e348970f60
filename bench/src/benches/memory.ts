/**
 * Bench 5, memory: parent heap per idle runner (goal ≤ 50 KB, issue 7) and per waiting
 * caller, and a runner-agent's idle RSS. Baselines from the same run: the parent heap per
 * raw ws peer connection, a bare pending promise in a queue, and the raw peer's idle RSS
 * (against an inline runner: one thread each), and a bare `node` with 2 idle worker threads
 * (against a runner on 2 threads, issue 11). The 2-thread runner is measured twice: once up
 * (after one call: its second thread starts once the first answer has left) and once after the
 * warm-up calls, so the note can tell the code's footprint from heaps grown by work (issue 23:
 * each thread's young generation grows under the call loop and is not given back while idle).
 * The floor of this design is measured too: a node process that loads ws (no connection) and
 * starts 2 worker threads that each import the bench's entry module (which imports pool-core).
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { type FlameModule as Flame, tryLoadFlame } from "../flame-side.js";
import { heapPerUnit, settledHeapBytes } from "../heap.js";
import { runClosedLoop } from "../measure.js";
import { residentBytes } from "../processes.js";
import { RawEchoServer, type RawPeer } from "../raw-echo.js";
import { type Figure, figure, type Goal } from "../report.js";
import type { Scale } from "../scale.js";
import { waitFor } from "../wait.js";

const BENCH = "memory";
/** The bench's functions module, as a file URL a spawned node can import. */
const FUNCTIONS_ENTRY = new URL("../../fixtures/functions.mjs", import.meta.url).href;
const KB = 1024;
const BARE_WORKERS = "node + 2 idle workers";

/** A resident-memory figure in MB, from bytes. */
const rssFigure = (
  measure: string,
  valueBytes: number,
  baselineName: string,
  baselineBytes: number,
  goal: Goal | null = null,
): Figure =>
  figure({
    bench: BENCH,
    measure,
    unit: "MB",
    value: valueBytes / (KB * KB),
    baselineName,
    baseline: baselineBytes / (KB * KB),
    goal,
  });

export async function memoryBench(scale: Scale): Promise<Figure[]> {
  // Heap samples move by ±15 KB per unit with 2-unit batches (measured), and a batch of 3 raw
  // links ranged from -42 to +52 KB per link across smoke runs: the median of 5 batches keeps
  // two outliers out of the figure.
  const growth = { perBatch: scale.pick(4, 3), batches: 5 };
  const waitingCallers = scale.pick(10_000, 1_000);
  const flame = await tryLoadFlame();
  const rawPerLink = await rawHeapPerLink(growth);
  const flamePerRunner = flame ? await flameHeapPerRunner(flame, growth) : Number.NaN;
  await bareHeapPerPendingPromise(waitingCallers); // warm-up: the JIT, the queue's growth
  const barePerWaiter = await bareHeapPerPendingPromise(waitingCallers);
  const flamePerWaiter = flame
    ? await flameHeapPerWaitingCaller(flame, waitingCallers)
    : Number.NaN;
  const rss = await idleRss(flame, scale);
  const threadedRss = await idleThreadedRss(flame, scale);
  const floorRss = await workersRss(2, { ws: true, entry: FUNCTIONS_ENTRY });
  const floorAfterCallsRss = await threadFloorRssAfterCalls({
    calls: scale.pick(2_000, 20),
    concurrency: 2,
  });
  const sustained = { calls: scale.pick(100_000, 200), concurrency: 16 };
  const sustainedRss = flame ? await threadedRssAfterCalls(flame, sustained) : Number.NaN;
  const floorSustainedRss = await threadFloorRssAfterCalls(sustained);
  return [
    figure({
      bench: BENCH,
      measure: "parent heap per idle runner",
      unit: "KB",
      value: flamePerRunner / KB,
      baselineName: "raw ws link",
      baseline: rawPerLink / KB,
      goal: { on: "value", op: "<=", target: 50 },
    }),
    figure({
      bench: BENCH,
      measure: "parent heap per waiting caller",
      unit: "KB",
      value: flamePerWaiter / KB,
      baselineName: "bare queued promise",
      baseline: barePerWaiter / KB,
      goal: null,
    }),
    // Inline: one thread, like the raw peer.
    rssFigure("runner-agent idle RSS", rss.flame, "raw peer process", rss.raw),
    rssFigure(
      "RSS floor: node + ws + 2 workers that load the entry",
      floorRss,
      BARE_WORKERS,
      threadedRss.bare,
    ),
    rssFigure(
      "runner-agent RSS, 2 threads, up after one call",
      threadedRss.flameUp,
      BARE_WORKERS,
      threadedRss.bare,
    ),
    // Issue 23's goal.
    rssFigure(
      "runner-agent idle RSS, 2 threads",
      threadedRss.flame,
      BARE_WORKERS,
      threadedRss.bare,
      { on: "ratio", op: "<=", target: 1.3 },
    ),
    rssFigure(
      "runner-agent idle RSS, 2 threads, vs the floor",
      threadedRss.flame,
      "node + ws + 2 workers that load the entry",
      floorRss,
    ),
    rssFigure(
      "RSS floor after the same calls: raw peer on 2 threads that load the entry",
      floorAfterCallsRss,
      BARE_WORKERS,
      threadedRss.bare,
    ),
    rssFigure(
      "runner-agent idle RSS, 2 threads, vs the floor after the same calls",
      threadedRss.flame,
      "raw peer on 2 threads, after the same calls",
      floorAfterCallsRss,
    ),
    // What a runner holds after sustained load, 100,000 calls (issue 23: each V8 serializer's
    // native memory waits for a full GC; small values are written without one, v8-writer.ts).
    rssFigure(
      "runner-agent RSS, 2 threads, after sustained calls @16 vs the floor after the same calls",
      sustainedRss,
      "raw peer on 2 threads, after the same calls",
      floorSustainedRss,
    ),
  ];
}

/**
 * RSS of a runner on 2 worker threads once both threads are up (after one call) and after
 * the warm-up calls, and of a bare node process with 2 idle workers.
 */
async function idleThreadedRss(
  flame: Flame | null,
  scale: Scale,
): Promise<{ flameUp: number; flame: number; bare: number }> {
  const bare = await workersRss(2, {});
  if (!flame) return { flameUp: Number.NaN, flame: Number.NaN, bare };
  const { fixtures, withPool } = flame;
  const options = { min: 1, max: 1, maxConcurrency: 2, execution: { threads: 2 } };
  return withPool("bench-mem-threads", options, async (pool) => {
    const pid = Number(pool.snapshot().runners[0]?.meta.pid);
    const rssOf = async (): Promise<number> => {
      const rss = await residentBytes(pid);
      if (rss === null) throw new Error(`could not read VmRSS of runner pid ${pid} from /proc`);
      return rss;
    };
    // The second thread starts once the first answer has left and is up ~0.1 s later on a
    // quiet machine: 1 s covers it, and the bare process's settling time.
    await pool.call(fixtures.echo, { n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const flameUp = await rssOf();
    await runClosedLoop(() => pool.call(fixtures.echo, { n: 1 }), {
      calls: scale.pick(2_000, 20),
      concurrency: 2,
    });
    return { flameUp, flame: await rssOf(), bare };
  });
}

interface CallLoop {
  readonly calls: number;
  readonly concurrency: number;
}

/** RSS of a runner on 2 threads after `loop`'s echo calls, 300 ms after the last. */
async function threadedRssAfterCalls(flame: Flame, loop: CallLoop): Promise<number> {
  const { fixtures, withPool } = flame;
  const options = { min: 1, max: 1, maxConcurrency: loop.concurrency, execution: { threads: 2 } };
  return withPool("bench-mem-sustained", options, async (pool) => {
    await runClosedLoop(() => pool.call(fixtures.echo, { n: 1 }), loop);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pid = Number(pool.snapshot().runners[0]?.meta.pid);
    const rss = await residentBytes(pid);
    if (rss === null) throw new Error(`could not read VmRSS of runner pid ${pid} from /proc`);
    return rss;
  });
}

/**
 * The thread floor after work: the raw peer on 2 worker threads that load the entry
 * (fixtures/raw-peer.mjs), after the same echo calls the 2-thread runner gets, then idle: each
 * thread's young generation grows under a call loop in any design that runs calls on threads.
 */
async function threadFloorRssAfterCalls(loop: CallLoop): Promise<number> {
  const server = await RawEchoServer.listen();
  try {
    const peer = await server.spawnPeer({ threads: 2, entry: FUNCTIONS_ENTRY });
    try {
      await runClosedLoop(() => peer.call("echo", { n: 1 }), loop);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const rss = await residentBytes(peer.pid);
      if (rss === null) throw new Error(`could not read VmRSS of pid ${peer.pid} from /proc`);
      return rss;
    } finally {
      await peer.close();
    }
  } finally {
    await server.close();
  }
}

/**
 * A node process that starts `count` worker threads which do nothing, then idles. With `ws` it
 * loads ws (as a runner's main thread does), with `entry` each thread imports that module.
 */
async function workersRss(
  count: number,
  load: { readonly ws?: boolean; readonly entry?: string },
): Promise<number> {
  const wsUrl = pathToFileURL(createRequire(import.meta.url).resolve("ws")).href;
  const worker =
    load.entry === undefined
      ? `new Worker("import('node:worker_threads').then((t) => t.parentPort.postMessage('up')); setInterval(() => {}, 1e6);", { eval: true })`
      : `new Worker(${JSON.stringify(`await import(${JSON.stringify(load.entry)}); (await import("node:worker_threads")).parentPort.postMessage("up"); setInterval(() => {}, 1e6);`)}, { eval: true, type: "module" })`;
  const script = `import { Worker } from "node:worker_threads";
${load.ws === true ? `await import(${JSON.stringify(wsUrl)});` : ""}
const ready = [];
for (let i = 0; i < ${count}; i++) {
  const w = ${worker};
  ready.push(new Promise((r) => w.once("message", r)));
}
await Promise.all(ready);
process.stdout.write("ready\\n");
setInterval(() => {}, 1e6);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`bare worker process exited (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rss = await residentBytes(child.pid ?? -1);
    if (rss === null) throw new Error("could not read VmRSS of the bare worker process");
    return rss;
  } finally {
    child.kill("SIGKILL");
  }
}

/**
 * Both heap-per-link figures start from WARM_LINKS live links, so the first connections'
 * one-off costs (JIT feedback, lazily built structures) are not charged to the measured ones.
 */
const WARM_LINKS = 3;

interface Growth {
  readonly perBatch: number;
  readonly batches: number;
}

async function rawHeapPerLink(growth: Growth): Promise<number> {
  const server = await RawEchoServer.listen();
  const peers: RawPeer[] = [];
  const connect = async (): Promise<void> => {
    const peer = await server.spawnPeer();
    peers.push(peer);
    await peer.call("echo", null);
  };
  try {
    for (let i = 0; i < WARM_LINKS; i++) await connect();
    return await heapPerUnit(connect, growth.perBatch, growth.batches);
  } finally {
    await Promise.all(peers.map((peer) => peer.close()));
    await server.close();
  }
}

/** Grows a pool of WARM_LINKS ready runners one runner at a time; heap per added runner. */
async function flameHeapPerRunner(flame: Flame, growth: Growth): Promise<number> {
  const { fixtures, withPool } = flame;
  const max = WARM_LINKS + growth.perBatch * growth.batches;
  return withPool("bench-mem-runners", { min: WARM_LINKS, max }, async (pool) => {
    const ready = (): number => pool.snapshot().runners.filter((r) => r.state === "ready").length;
    await waitFor(`${WARM_LINKS} ready runners`, () => ready() === WARM_LINKS, 60_000);
    await pool.call(fixtures.echo, null);
    let runners = WARM_LINKS;
    const addRunner = async (): Promise<void> => {
      runners++;
      pool.resize({ min: runners, max });
      await waitFor(`${runners} ready runners`, () => ready() === runners, 60_000);
    };
    return heapPerUnit(addRunner, growth.perBatch, growth.batches);
  });
}

/** The least a queued caller can cost: a pending promise and its resolvers in a queue. */
async function bareHeapPerPendingPromise(count: number): Promise<number> {
  const queue: Array<{ resolve: (v: unknown) => void; input: unknown; deadlineMs: number }> = [];
  const before = await settledHeapBytes();
  const promises: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    promises.push(
      new Promise((resolve) => queue.push({ resolve, input: { n: i }, deadlineMs: Date.now() })),
    );
  }
  const perPromise = ((await settledHeapBytes()) - before) / count;
  for (const entry of queue) entry.resolve(null);
  await Promise.all(promises);
  return perPromise;
}

/**
 * One runner with one slot, held busy; `count` callers queue behind it, all in the pool
 * (prefetch off: it would send one of them on to the runner).
 */
async function flameHeapPerWaitingCaller(flame: Flame, count: number): Promise<number> {
  const { fixtures, withPool } = flame;
  const oneSlot = { min: 1, max: 1, maxConcurrency: 1, prefetch: false };
  return withPool("bench-mem-waiting", oneSlot, async (pool) => {
    await pool.call(fixtures.echo, null);
    const release = new AbortController();
    const held = pool.call(fixtures.hold, null, { signal: release.signal }).catch(() => null);
    await waitFor("the held call to take the only slot", () =>
      pool.snapshot().runners.some((r) => r.inflight === 1),
    );
    const before = await settledHeapBytes();
    const waiters: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) waiters.push(pool.call(fixtures.echo, { n: i }));
    await waitFor(`${count} waiting callers`, () => pool.snapshot().waiting === count);
    const perCaller = ((await settledHeapBytes()) - before) / count;
    release.abort();
    await held;
    await Promise.all(waiters);
    return perCaller;
  });
}

/** RSS of a runner-agent and of a raw peer, each after the same warm-up calls, then idle. */
async function idleRss(flame: Flame | null, scale: Scale): Promise<{ flame: number; raw: number }> {
  const warmup = { calls: scale.pick(2_000, 20), concurrency: 16 };
  const server = await RawEchoServer.listen();
  try {
    const peer = await server.spawnPeer();
    try {
      await runClosedLoop(() => peer.call("echo", { n: 1 }), warmup);
      const raw = await residentBytes(peer.pid);
      if (raw === null) throw new Error(`could not read VmRSS of pid ${peer.pid} from /proc`);
      if (!flame) return { flame: Number.NaN, raw };
      const { fixtures, withPool } = flame;
      const inline = { min: 1, max: 1, execution: { mode: "inline" as const } };
      const runnerRss = await withPool("bench-mem-rss", inline, async (pool) => {
        await runClosedLoop(() => pool.call(fixtures.echo, { n: 1 }), warmup);
        const pid = Number(pool.snapshot().runners[0]?.meta.pid);
        const rss = await residentBytes(pid);
        if (rss === null) throw new Error(`could not read VmRSS of runner pid ${pid} from /proc`);
        return rss;
      });
      return { flame: runnerRss, raw };
    } finally {
      await peer.close();
    }
  } finally {
    await server.close();
  }
}
