/**
 * Bench 7 (issues 11 and 23), CPU-bound work: a fixed chunk of pure-JS work (~20 ms and ~3 ms,
 * calibrated at start on a piscina thread) run by one runner on 2 worker threads against piscina with 2 threads, and
 * (~20 ms) by one runner on 2 threads against one on 1 thread. Goals: ≥ 0.95× piscina; ≥ 1.8× the
 * 1-thread runner (on a 2-core machine, so also a check that both cores are used), beside
 * piscina's own 2 threads against 1: what the machine's second core gives the task at all.
 *
 * Beside them, what issue 23's "back-to-back" rule is about: every task is stamped with its
 * thread, start and end (fixtures/stamped-work.mjs), so the bench reports how long a thread sat
 * idle between two tasks (piscina's next task is one thread hop away; a runner's next call is a
 * round trip to the parent away), and the throughput of a runner given a call queued behind each
 * thread (maxConcurrency 4 on 2 threads: a CPU-bound task holds its thread's event loop, so the
 * queued one starts the moment it ends), the most a prefetch of one call per thread could give.
 *
 * And the floor of any runner design on this machine: the raw peer (plain ws + v8, no pool)
 * running the same task on 2 worker threads (fixtures/raw-peer.mjs), its frames sent on to a
 * thread at once, so a thread's next task is there when it ends. What it loses against piscina
 * is what a process and a socket between caller and threads cost while both cores compute.
 * The floor also runs with 2 callers (one call per thread, nothing waiting on a thread): what
 * the same transport loses when each thread's next task is a round trip away.
 *
 * Each side's rounds also say what its tasks cost the machine: CPU per task of every thread of
 * both processes (/proc schedstat), of the two main threads alone (the caller's and the
 * runner's: each call's path apart from the task), and how many cores were busy. With both
 * cores busy, throughput is the inverse of CPU per task, so these show where a gap goes.
 */
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { WorkStamp } from "../../fixtures/stamped-work.mjs";
import { roleNames } from "../cpu-per-call.js";
import { alternateRuns, type FlameSide, withFlamePool } from "../flame-side.js";
import { median } from "../measure.js";
import { RawEchoServer, type RawPeer } from "../raw-echo.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";
import { runStamped, type Side, type StampedRun } from "../stamped-run.js";

const taskFile = fileURLToPath(new URL("../../fixtures/piscina-work.mjs", import.meta.url));
/** Calls of a short task each side runs before any measure (see warmUp). */
const WARMUP_CALLS = 6_000;
const WARMUP_TASK_MS = 0.5;

/**
 * Iterations of `work` that take about `targetMs` on a worker thread (piscina's, timed inside
 * the task, fastest of several): timed on this thread instead, the "~20 ms" task ran 4–22 ms
 * on the threads from one run to the next (V8 optimized the loop differently here).
 */
async function calibrate(piscina: Piscina, targetMs: number): Promise<number> {
  const iterations = 400_000;
  const run = async (): Promise<number> => {
    const stamp = (await piscina.run({ iterations })) as WorkStamp;
    return stamp.endMs - stamp.startMs;
  };
  for (let i = 0; i < 5; i += 1) await run();
  let fastestMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i += 1) fastestMs = Math.min(fastestMs, await run());
  return Math.round((iterations * targetMs) / fastestMs);
}

/** The pool's runner process (each bench pool has one runner: min = max = 1). */
function runnerPid(side: FlameSide): number {
  const pid = Number(side.pool.snapshot().runners[0]?.meta.pid);
  if (!Number.isInteger(pid)) throw new Error("the bench pool has no runner with a pid");
  return pid;
}

/** Piscina, the floor and a pool running the CPU-bound task with `input`. */
function sidesFor(
  input: { readonly iterations: number },
  { piscina, piscinaOne, floor }: Baselines,
) {
  const onPiscina: Side = { callOnce: () => piscina.run(input), peerPid: null };
  const onPiscinaOne: Side = { callOnce: () => piscinaOne.run(input), peerPid: null };
  const onFloor: Side = {
    callOnce: () => floor.call("cpuWork", input) as Promise<WorkStamp>,
    peerPid: floor.pid,
  };
  const onPool = (side: FlameSide | null): Side | null =>
    side
      ? { callOnce: () => side.pool.call(side.fixtures.cpuWork, input), peerPid: runnerPid(side) }
      : null;
  return { onPiscina, onPiscinaOne, onFloor, onPool };
}

const threadsPool = (threads: number, maxConcurrency: number) => ({
  min: 1,
  max: 1,
  maxConcurrency,
  execution: { threads },
});

export async function cpuBoundBench(scale: Scale): Promise<Figure[]> {
  const piscina = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2 });
  const piscinaOne = new Piscina({ filename: taskFile, minThreads: 1, maxThreads: 1 });
  const server = await RawEchoServer.listen();
  let floor: RawPeer | null = null;
  try {
    floor = await server.spawnPeer({ threads: 2 });
    const baselines = { piscina, piscinaOne, floor };
    return await withFlamePool("bench-cpu-2", threadsPool(2, 2), (two) =>
      withFlamePool("bench-cpu-1", threadsPool(1, 1), (one) =>
        withFlamePool("bench-cpu-queued", threadsPool(2, 4), async (queued) => {
          await warmUp(scale, baselines, [two, one, queued]);
          return [
            ...(await taskSize(scale, 20, scale.pick(200, 8), baselines, two, one, null)),
            ...(await taskSize(scale, 3, scale.pick(1_000, 8), baselines, two, null, queued)),
          ];
        }),
      ),
    );
  } finally {
    await floor?.close();
    await server.close();
    await piscina.destroy();
    await piscinaOne.destroy();
  }
}

/**
 * Every side's call path run hot before anything is measured, so what is measured is the
 * steady state a long-lived runner serves in: V8 has optimized the code each side runs per
 * call (a fresh runner process and its threads, the pool's parent code; piscina's, the
 * floor's). Without it, the first ~3,000 calls of a fresh runner ran on unoptimized code: its
 * main thread, the parent's and V8's compiler threads took 2–3× the CPU per call of the steady
 * state (/proc/<pid>/task/<tid>/schedstat, ~3 ms tasks), from the cores the tasks compute on.
 * A ~0.5 ms task keeps both threads busy, so calls queue on the runner and staging runs hot too.
 */
async function warmUp(
  scale: Scale,
  baselines: Baselines,
  pools: readonly (FlameSide | null)[],
): Promise<void> {
  const input = { iterations: await calibrate(baselines.piscina, WARMUP_TASK_MS) };
  const { onPiscina, onPiscinaOne, onFloor, onPool } = sidesFor(input, baselines);
  const calls = scale.pick(WARMUP_CALLS, 4);
  for (const side of [onPiscina, onPiscinaOne, onFloor, ...pools.map(onPool)]) {
    if (side) await runStamped(side, calls);
  }
}

const ROLES = roleNames("the 2 worker threads");

interface Baselines {
  readonly piscina: Piscina;
  /** Piscina with 1 thread: what 2 threads give the same task on this machine (2 vs 1). */
  readonly piscinaOne: Piscina;
  /** The raw peer on 2 worker threads. */
  readonly floor: RawPeer;
}

/** The figures of one task size; `one` and `queued` are measured when given. */
async function taskSize(
  scale: Scale,
  targetMs: number,
  calls: number,
  baselines: Baselines,
  two: FlameSide | null,
  one: FlameSide | null,
  queued: FlameSide | null,
): Promise<Figure[]> {
  const input = { iterations: await calibrate(baselines.piscina, targetMs) };
  const { onPiscina, onPiscinaOne, onFloor, onPool } = sidesFor(input, baselines);
  const onTwo = onPool(two);
  const warmupCalls = scale.pick(20, 2);
  for (const side of [onPiscina, onFloor, onTwo, onPool(one), onPool(queued)]) {
    if (side) await runStamped(side, warmupCalls);
  }
  const measured = (side: Side | null) => (side ? () => runStamped(side, calls) : null);
  const floorRuns: StampedRun[] = [];
  // The floor with one caller per thread: no task waits on a thread, as on a runner whose
  // maxConcurrency equals its threads, so each thread's next task is a round trip away.
  const floorOnePerThreadRuns: StampedRun[] = [];
  const vsPiscina = await alternateRuns(
    scale.rounds,
    async () => {
      const run = await runStamped(onPiscina, calls);
      floorRuns.push(await runStamped(onFloor, calls));
      floorOnePerThreadRuns.push(await runStamped(onFloor, calls, 2));
      return run;
    },
    measured(onTwo),
  );
  const measure = `~${targetMs} ms task`;
  const throughput = (runs: StampedRun[]) => median(runs.map((r) => r.tasksPerSecond));
  const figures = [
    figure({
      bench: "CPU-bound",
      measure: `throughput ${measure}, 2 threads vs piscina`,
      unit: "tasks/s",
      value: throughput(vsPiscina.flame),
      baselineName: "piscina 2 threads",
      baseline: throughput(vsPiscina.baseline),
      goal: { on: "ratio", op: ">=", target: 0.95 },
    }),
    figure({
      bench: "CPU-bound",
      measure: `task run time p50, ${measure} (pool / piscina)`,
      unit: "ms",
      value: median(vsPiscina.flame.flatMap((r) => r.taskMs)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.flatMap((r) => r.taskMs)),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `thread idle between tasks p50, ${measure}`,
      unit: "µs",
      value: median(vsPiscina.flame.flatMap((r) => r.idleGapsMs)) * 1000,
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.flatMap((r) => r.idleGapsMs)) * 1000,
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `throughput ${measure}: the floor (raw ws+v8 on 2 threads) vs piscina`,
      unit: "tasks/s",
      value: throughput(floorRuns),
      baselineName: "piscina 2 threads",
      baseline: throughput(vsPiscina.baseline),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `throughput ${measure}: the floor with one call per thread (2 callers) vs piscina`,
      unit: "tasks/s",
      value: throughput(floorOnePerThreadRuns),
      baselineName: "piscina 2 threads",
      baseline: throughput(vsPiscina.baseline),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `throughput ${measure}, 2 threads vs the floor`,
      unit: "tasks/s",
      value: throughput(vsPiscina.flame),
      baselineName: "raw ws+v8 on 2 threads",
      baseline: throughput(floorRuns),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `thread idle between tasks p50, ${measure}: the floor`,
      unit: "µs",
      value: median(floorRuns.flatMap((r) => r.idleGapsMs)) * 1000,
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.flatMap((r) => r.idleGapsMs)) * 1000,
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `task run time p50, ${measure}: the floor / piscina`,
      unit: "ms",
      value: median(floorRuns.flatMap((r) => r.taskMs)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.flatMap((r) => r.taskMs)),
      goal: null,
    }),
    // What each side's tasks cost the machine in all, task included: where the ratio of CPU
    // per task is the inverse of the throughput ratio, the cores were full and the gap is CPU.
    figure({
      bench: "CPU-bound",
      measure: `CPU per task, all threads of both processes, ${measure} (pool / piscina)`,
      unit: "µs",
      value: median(vsPiscina.flame.map((r) => r.cpuPerTaskUs)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.map((r) => r.cpuPerTaskUs)),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `CPU per task, all threads of both processes, ${measure}: pool / the floor`,
      unit: "µs",
      value: median(vsPiscina.flame.map((r) => r.cpuPerTaskUs)),
      baselineName: "raw ws+v8 on 2 threads",
      baseline: median(floorRuns.map((r) => r.cpuPerTaskUs)),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `main threads' CPU per task (caller's + runner's), ${measure} (pool / piscina)`,
      unit: "µs",
      value: median(vsPiscina.flame.map((r) => r.mainThreadsPerTaskUs)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.map((r) => r.mainThreadsPerTaskUs)),
      goal: null,
    }),
    // Where the pool's CPU per task over the floor's goes, thread by thread.
    ...ROLES.map(([role, label]) =>
      figure({
        bench: "CPU-bound",
        measure: `CPU per task, ${label}, ${measure}: pool / the floor`,
        unit: "µs",
        value: median(vsPiscina.flame.map((r) => r.byRolePerTaskUs[role])),
        baselineName: "raw ws+v8 on 2 threads",
        baseline: median(floorRuns.map((r) => r.byRolePerTaskUs[role])),
        goal: null,
      }),
    ),
    figure({
      bench: "CPU-bound",
      measure: `cores busy while measured (of 2), ${measure} (pool / piscina)`,
      unit: "cores",
      value: median(vsPiscina.flame.map((r) => r.coresBusy)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.map((r) => r.coresBusy)),
      goal: null,
    }),
    figure({
      bench: "CPU-bound",
      measure: `cores busy while measured (of 2), ${measure}: the floor / piscina`,
      unit: "cores",
      value: median(floorRuns.map((r) => r.coresBusy)),
      baselineName: "piscina 2 threads",
      baseline: median(vsPiscina.baseline.map((r) => r.coresBusy)),
      goal: null,
    }),
  ];
  const onOne = onPool(one);
  if (onOne) {
    const vsOneThread = await alternateRuns(
      scale.rounds,
      () => runStamped(onOne, calls),
      measured(onTwo),
    );
    figures.push(
      figure({
        bench: "CPU-bound",
        measure: `throughput ${measure}, 2 threads vs 1 thread`,
        unit: "tasks/s",
        value: throughput(vsOneThread.flame),
        baselineName: "1 runner, 1 thread",
        baseline: throughput(vsOneThread.baseline),
        goal: { on: "ratio", op: ">=", target: 1.8 },
      }),
    );
    // The same ratio without a pool: what this machine's second core gives the task at all
    // (two vCPUs may share a physical core), the floor of the goal above.
    const piscinaVsOne = await alternateRuns(
      scale.rounds,
      () => runStamped(onPiscinaOne, calls),
      () => runStamped(onPiscina, calls),
    );
    figures.push(
      figure({
        bench: "CPU-bound",
        measure: `throughput ${measure}: piscina 2 threads vs 1 thread`,
        unit: "tasks/s",
        value: throughput(piscinaVsOne.flame),
        baselineName: "piscina 1 thread",
        baseline: throughput(piscinaVsOne.baseline),
        goal: null,
      }),
    );
  }
  const onQueued = onPool(queued);
  if (onQueued) {
    const vsQueued = await alternateRuns(
      scale.rounds,
      () => runStamped(onPiscina, calls),
      measured(onQueued),
    );
    figures.push(
      figure({
        bench: "CPU-bound",
        measure: `throughput ${measure}, a call queued behind each of 2 threads (maxConcurrency 4)`,
        unit: "tasks/s",
        value: throughput(vsQueued.flame),
        baselineName: "piscina 2 threads",
        baseline: throughput(vsQueued.baseline),
        goal: null,
      }),
    );
  }
  return figures;
}
