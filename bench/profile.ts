/**
 * `npm run bench:profile -w @flame-ts/bench`: CPU profiles of the call path under load, for
 * both processes of both sides: the raw ws+v8 echo (parent, peer) and flame-ts (parent,
 * runner-agent); in threads mode also the CPU per call of the thread floor (the raw peer on
 * worker threads). Prints where the time goes and keeps the .cpuprofile files (open them in
 * Chrome DevTools or speedscope) under bench/results/profiles/<time>/.
 *
 *   tsx profile.ts [--seconds 4] [--concurrency 128] [--bytes 0 [--echo]] [--mode threads|inline]
 *                  [--iterations N] [--dir <path>]
 *
 * `--bytes N` calls with N random bytes as the argument (the function answers their length);
 * with `--echo` the same bytes come back as the result (the payload bench's "args + result").
 * `--iterations N` loads both sides with the CPU-bound task (fixtures/stamped-work.mjs, N loop
 * iterations) instead of an echo, and the pool runs one call per thread (maxConcurrency =
 * threads, the rest queued on the runner), as the CPU-bound bench does: what the main threads
 * of both processes spend per call while the worker threads compute. `--dir` puts the profiles
 * there instead of under bench/results/profiles/.
 *
 * The parent is profiled through node:inspector for exactly the loaded window; the child
 * processes run with `node --cpu-prof` and write their profile when they exit.
 */
import { randomFillSync } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type CpuProfile,
  cpuPerCall,
  formatSummary,
  summarize,
  threadCpuMs,
} from "./src/cpuprofile.js";
import type { Pool } from "./src/flame.js";
import type { FlameModule } from "./src/flame-side.js";
import { RawEchoServer } from "./src/raw-echo.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "4" },
    concurrency: { type: "string", default: "128" },
    bytes: { type: "string", default: "0" },
    echo: { type: "boolean", default: false },
    mode: { type: "string", default: "threads" },
    iterations: { type: "string" },
    dir: { type: "string" },
  },
});
const durationMs = Number(values.seconds) * 1000;
const concurrency = Number(values.concurrency);
const bytes = Number(values.bytes);
if (values.mode !== "threads" && values.mode !== "inline") {
  throw new Error(`--mode must be "threads" or "inline", got ${JSON.stringify(values.mode)}`);
}
const mode = values.mode;
if (values.echo && !(bytes > 0)) {
  throw new Error("--echo sends the --bytes argument back as the result: give --bytes N too");
}
const iterations = values.iterations === undefined ? undefined : Number(values.iterations);
if (iterations !== undefined && !(Number.isInteger(iterations) && iterations > 0)) {
  throw new Error(`--iterations must be a positive integer, got ${values.iterations}`);
}
type Fixtures = FlameModule["fixtures"];
/**
 * What both sides run, chosen once: the raw peers call the function by name, the pool through
 * its fixture (the same function, fixtures/functions.mjs).
 */
interface Work {
  readonly label: string;
  readonly fn: string;
  readonly input: unknown;
  /** The pool runs one call per thread, the rest queued on the runner (the CPU-bound bench's shape). */
  readonly oneCallPerThread: boolean;
  callPool(pool: Pool, fixtures: Fixtures): Promise<unknown>;
}
const work: Work =
  iterations !== undefined
    ? {
        label: `CPU-bound task of ${iterations} iterations`,
        fn: "cpuWork",
        input: { iterations },
        oneCallPerThread: true,
        callPool: (pool, fixtures) => pool.call(fixtures.cpuWork, { iterations }),
      }
    : bytes > 0
      ? bytesWork(randomFillSync(new Uint8Array(bytes)))
      : {
          label: "{n:1} echo",
          fn: "echo",
          input: { n: 1 },
          oneCallPerThread: false,
          callPool: (pool, fixtures) => pool.call(fixtures.echo, { n: 1 }),
        };

function bytesWork(input: Uint8Array): Work {
  if (values.echo) {
    return {
      label: `${bytes}-byte args and result`,
      fn: "echo",
      input,
      oneCallPerThread: false,
      callPool: (pool, fixtures) => pool.call(fixtures.echo, input),
    };
  }
  return {
    label: `${bytes}-byte args`,
    fn: "byteLength",
    input,
    oneCallPerThread: false,
    callPool: (pool, fixtures) => pool.call(fixtures.byteLength, input),
  };
}
const dir =
  values.dir === undefined
    ? fileURLToPath(
        new URL(
          `./results/profiles/${new Date().toISOString().replace(/[:.]/g, "-")}/`,
          import.meta.url,
        ),
      )
    : resolve(values.dir);
const childArgs = (name: string): string[] => ["--cpu-prof", `--cpu-prof-dir=${join(dir, name)}`];

/** Calls made by the last `loadFor`. */
let lastCalls = 0;

/** Closed loop for a fixed time; returns calls per second. */
async function loadFor(callOnce: () => Promise<unknown>): Promise<number> {
  let calls = 0;
  const endMs = performance.now() + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < endMs) {
      await callOnce();
      calls++;
    }
  };
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  lastCalls = calls;
  return (calls / (performance.now() - startedMs)) * 1000;
}

const session = new Session();
session.connect();
await session.post("Profiler.enable");

/** Per process profiled: its CPU per call, by thread, over the profiled window. */
const cpuLines: string[] = [];

/** `peerPid`: the other process of the pair, whose threads' CPU is read too. */
async function profiled(
  name: string,
  peerPid: number | undefined,
  load: () => Promise<number>,
): Promise<number> {
  const parentBefore = threadCpuMs(process.pid);
  const peerBefore = peerPid === undefined ? new Map() : threadCpuMs(peerPid);
  await session.post("Profiler.start");
  const rate = await load();
  const { profile } = await session.post("Profiler.stop");
  cpuLines.push(`${name}: ${cpuPerCall(parentBefore, threadCpuMs(process.pid), lastCalls)}`);
  if (peerPid !== undefined) {
    cpuLines.push(`${name} peer: ${cpuPerCall(peerBefore, threadCpuMs(peerPid), lastCalls)}`);
  }
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, "parent.cpuprofile"), JSON.stringify(profile));
  return rate;
}

/** `--cpu-prof` writes one file per thread (`CPU.<date>.<pid>.<threadId>.<seq>`); main thread first. */
async function profileFiles(name: string): Promise<string[]> {
  const files = (await readdir(join(dir, name))).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${join(dir, name)}`);
  const threadId = (f: string): number => Number(f.split(".").at(-3));
  return files.sort((a, b) => threadId(a) - threadId(b));
}

async function readProfile(name: string): Promise<CpuProfile> {
  const files = await profileFiles(name);
  return JSON.parse(await readFile(join(dir, name, files[0]!), "utf8")) as CpuProfile;
}

/** The runner's default thread count here (agent.ts: slots, capped by usable CPUs; no quota). */
const floorThreads = Math.min(concurrency, availableParallelism());
const server = await RawEchoServer.listen();
let rawRate: number;
let floorRate = Number.NaN;
try {
  const peer = await server.spawnPeer({ execArgv: childArgs("raw-peer") });
  try {
    await loadFor(() => peer.call(work.fn, work.input)); // warm-up, unprofiled
    rawRate = await profiled("raw-parent", peer.pid, () =>
      loadFor(() => peer.call(work.fn, work.input)),
    );
  } finally {
    await peer.close();
  }
  if (mode === "threads") {
    // The thread floor (fixtures/raw-peer.mjs on threads): its CPU per call, by thread, is
    // what handing calls to threads costs without the pool. Not itself profiled.
    const floor = await server.spawnPeer({ threads: floorThreads });
    try {
      await loadFor(() => floor.call(work.fn, work.input));
      floorRate = await profiled("floor-parent", floor.pid, () =>
        loadFor(() => floor.call(work.fn, work.input)),
      );
    } finally {
      await floor.close();
    }
  }
} finally {
  await server.close();
}

const { benchPool, fixtures } = await import("./src/flame.js");
const pool = benchPool(
  "bench-profile",
  {
    min: 1,
    max: 1,
    maxConcurrency: work.oneCallPerThread ? floorThreads : concurrency,
    execution: { mode },
  },
  childArgs("runner"),
);
let flameRate: number;
try {
  await pool.start();
  const call = (): Promise<unknown> => work.callPool(pool, fixtures);
  await loadFor(call);
  const runnerPid = Number(pool.snapshot().runners[0]?.meta.pid);
  flameRate = await profiled(
    "flame-parent",
    Number.isInteger(runnerPid) ? runnerPid : undefined,
    () => loadFor(call),
  );
} finally {
  await pool.stop();
}
session.disconnect();

const out = [
  `load: concurrency ${concurrency}, ${work.label}, ${durationMs / 1000} s each (rates under the profiler)`,
  `raw ws+v8: ${rawRate.toFixed(0)} calls/s · flame-ts: ${flameRate.toFixed(0)} calls/s · ratio ${(flameRate / rawRate).toFixed(2)}`,
  ...(mode === "threads"
    ? [
        `thread floor (raw ws+v8 on ${floorThreads} threads): ${floorRate.toFixed(0)} calls/s · ${(floorRate / rawRate).toFixed(2)}× raw · flame-ts ${(flameRate / floorRate).toFixed(2)}× the floor`,
      ]
    : []),
  // Profile "busy" times below include time spent waiting for a core on a loaded machine;
  // these are the CPU each thread used (the parent's include the profiler's own thread).
  ...cpuLines,
  formatSummary("raw parent", summarize(await readProfile("raw-parent"))),
  formatSummary("raw peer (whole process life)", summarize(await readProfile("raw-peer"))),
  formatSummary("flame-ts parent", summarize(await readProfile("flame-parent"))),
  ...(await Promise.all(
    (
      await profileFiles("runner")
    ).map(async (file, i) =>
      formatSummary(
        `flame-ts runner-agent ${i === 0 ? "main thread" : `worker thread ${i}`} (whole life)`,
        summarize(JSON.parse(await readFile(join(dir, "runner", file), "utf8")) as CpuProfile),
      ),
    ),
  )),
  `profiles: ${dir}`,
];
process.stdout.write(`${out.join("\n\n")}\n`);
