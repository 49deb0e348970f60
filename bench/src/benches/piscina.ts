/**
 * Bench 2, against piscina: 2 local runners vs piscina with 2 worker threads, the same
 * trivial echo at concurrency 64. Goal (issue 7): ≥ 1.0× piscina's throughput, with the
 * runners' default execution (worker threads). The same runners inline are measured beside
 * it: on an echo each call's hop to a thread is most of its cost, and inline is what the
 * runner-agent README recommends for work that light.
 *
 * Beside the threads figure runs its floor: a raw peer (plain ws + v8, no pool) per runner,
 * running the echo on as many worker threads as a runner has, calls going to the peer with
 * fewer in flight. It says whether any runner that crosses a process and a thread per call
 * reaches piscina's in-process hop here (issue 23).
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { BenchPoolOptions } from "../flame.js";
import { compareClosedLoops, withFlamePool } from "../flame-side.js";
import { callsPerSecond, type LoadResult, median } from "../measure.js";
import { RawEchoServer, type RawPeer } from "../raw-echo.js";
import { type Figure, figure, type Goal } from "../report.js";
import type { Scale } from "../scale.js";

const taskFile = fileURLToPath(new URL("../../fixtures/piscina-task.mjs", import.meta.url));

const MEASURE = "throughput @64, 2 workers";
const RUNNERS = 2;
const CONCURRENCY = 64;
/** Each runner's default thread count here (agent.ts: slots, capped by usable CPUs; no quota). */
const THREADS_PER_RUNNER = Math.min(CONCURRENCY, availableParallelism());

export async function piscinaBench(scale: Scale): Promise<Figure[]> {
  const piscina = new Piscina({ filename: taskFile, minThreads: 2, maxThreads: 2 });
  const server = await RawEchoServer.listen();
  const peers: RawPeer[] = [];
  try {
    for (let i = 0; i < RUNNERS; i += 1) {
      peers.push(await server.spawnPeer({ threads: THREADS_PER_RUNNER }));
    }
    const threads = await versusPiscina(scale, piscina, {}, leastInFlight(peers));
    const inline = await versusPiscina(scale, piscina, { execution: { mode: "inline" } });
    const piscinaRuns = { name: "piscina 2 threads", runs: threads.baseline };
    const floorRuns = {
      name: `${RUNNERS} raw peers on ${THREADS_PER_RUNNER} threads each`,
      runs: threads.floor,
    };
    return [
      throughputFigure(MEASURE, threads.flame, piscinaRuns, { on: "ratio", op: ">=", target: 1.0 }),
      throughputFigure(
        `${MEASURE}: the thread floor (a raw peer per runner, as many threads) vs piscina`,
        threads.floor,
        piscinaRuns,
      ),
      throughputFigure(`${MEASURE} vs the thread floor`, threads.flame, floorRuns),
      throughputFigure(`${MEASURE} (inline)`, inline.flame, {
        name: "piscina 2 threads",
        runs: inline.baseline,
      }),
    ];
  } finally {
    await Promise.all(peers.map((peer) => peer.close()));
    await server.close();
    await piscina.destroy();
  }
}

/** The median throughput of `runs` against that of `baseline`'s runs, measured alongside. */
function throughputFigure(
  measure: string,
  runs: readonly LoadResult[],
  baseline: { readonly name: string; readonly runs: readonly LoadResult[] },
  goal: Goal | null = null,
): Figure {
  return figure({
    bench: "vs piscina",
    measure,
    unit: "calls/s",
    value: median(runs.map(callsPerSecond)),
    baselineName: baseline.name,
    baseline: median(baseline.runs.map(callsPerSecond)),
    goal,
  });
}

/** A call to the peer with the fewest calls in flight (the pool's least-loaded rule). */
function leastInFlight(peers: readonly RawPeer[]): () => Promise<unknown> {
  const inFlight = peers.map(() => 0);
  const input = { n: 1 };
  return async () => {
    let best = 0;
    for (let i = 1; i < peers.length; i += 1) {
      if ((inFlight[i] as number) < (inFlight[best] as number)) best = i;
    }
    inFlight[best] = (inFlight[best] as number) + 1;
    try {
      return await (peers[best] as RawPeer).call("echo", input);
    } finally {
      inFlight[best] = (inFlight[best] as number) - 1;
    }
  };
}

/**
 * 2 runners (with `execution` as given) against piscina's 2 threads, alternating rounds, with
 * `floor` run between them when given.
 */
async function versusPiscina(
  scale: Scale,
  piscina: Piscina,
  execution: Pick<BenchPoolOptions, "execution">,
  floor?: () => Promise<unknown>,
): Promise<{ baseline: LoadResult[]; flame: LoadResult[]; floor: LoadResult[] }> {
  const load = { calls: scale.pick(30_000, 256), concurrency: CONCURRENCY };
  return withFlamePool(
    "bench-piscina",
    { min: RUNNERS, max: RUNNERS, maxConcurrency: CONCURRENCY, ...execution },
    async (side) => {
      const input = { n: 1 };
      const threads = (): Promise<unknown> => piscina.run(input);
      const flame = side ? (): Promise<unknown> => side.pool.call(side.fixtures.echo, input) : null;
      return compareClosedLoops(threads, flame, {
        load,
        warmup: { calls: scale.pick(5_000, 20), concurrency: CONCURRENCY },
        rounds: scale.rounds,
        ...(floor === undefined ? {} : { floor }),
      });
    },
  );
}
