/**
 * Bench 4, cold start: a call on an empty pool until its result (a runner process is
 * started, dials back, says hello, runs the call), vs a bare `node` start that opens a ws
 * connection and answers one echo. Goal (issue 7): ≤ 1.3×.
 *
 * Beside it, the same with the inline executor (functions on the agent's main thread): what
 * is left once the worker thread is out of the way (issue 23's breakdown: the thread's boot and
 * its module loads run beside the main thread's, and on 2 cores they compete).
 *
 * And the floor of a runner that runs functions on threads: the raw peer with one worker thread
 * that loads the same functions module before its first call (fixtures/raw-peer.mjs with
 * RAW_PEER_ENTRY), started and dialling in parallel, as the runner does.
 */
import { alternateRuns, tryLoadFlame } from "../flame-side.js";
import { median, timeMs } from "../measure.js";
import { RawEchoServer, type RawPeer, type SpawnPeerOptions } from "../raw-echo.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";

const functionsEntry = new URL("../../fixtures/functions.mjs", import.meta.url).href;
const THREAD_FLOOR: SpawnPeerOptions = { threads: 1, entry: functionsEntry };

export async function coldStartBench(scale: Scale): Promise<Figure[]> {
  const flame = await tryLoadFlame();
  const server = await RawEchoServer.listen();
  try {
    const rawColdStart = async (options: SpawnPeerOptions = {}): Promise<number> => {
      let peer: RawPeer | undefined;
      try {
        return await timeMs(async () => {
          peer = await server.spawnPeer(options);
          await peer.call("echo", { n: 1 });
        });
      } finally {
        await peer?.close();
      }
    };
    const flameColdStart = async (mode: "threads" | "inline"): Promise<number> => {
      // Created and listening before the clock starts, as the raw server is.
      const pool = flame!.benchPool(`bench-cold-${mode}`, { min: 0, max: 1, execution: { mode } });
      try {
        await pool.start();
        return await timeMs(() => pool.call(flame!.fixtures.echo, { n: 1 }));
      } finally {
        await pool.stop();
      }
    };
    // One untimed start of each first, so disk caches are warm for both alike.
    await rawColdStart();
    await rawColdStart(THREAD_FLOOR);
    if (flame) await flameColdStart("threads");
    const rounds = scale.pick(5, 1);
    const floorRuns: number[] = [];
    const runs = await alternateRuns(
      rounds,
      async () => {
        const ms = await rawColdStart();
        floorRuns.push(await rawColdStart(THREAD_FLOOR));
        return ms;
      },
      flame ? () => flameColdStart("threads") : null,
    );
    const inline = await alternateRuns(
      rounds,
      () => rawColdStart(),
      flame ? () => flameColdStart("inline") : null,
    );
    return [
      figure({
        bench: "cold start",
        measure: "empty pool → first result",
        unit: "ms",
        value: median(runs.flame),
        baselineName: "node start + ws + echo",
        baseline: median(runs.baseline),
        goal: { on: "ratio", op: "<=", target: 1.3 },
      }),
      figure({
        bench: "cold start",
        measure: "the thread floor: node + ws + 1 thread loading the functions module",
        unit: "ms",
        value: median(floorRuns),
        baselineName: "node start + ws + echo",
        baseline: median(runs.baseline),
        goal: null,
      }),
      figure({
        bench: "cold start",
        measure: "empty pool → first result vs the thread floor",
        unit: "ms",
        value: median(runs.flame),
        baselineName: "node + ws + 1 thread loading the functions module",
        baseline: median(floorRuns),
        goal: null,
      }),
      figure({
        bench: "cold start",
        measure: "empty pool → first result (inline)",
        unit: "ms",
        value: median(inline.flame),
        baselineName: "node start + ws + echo",
        baseline: median(inline.baseline),
        goal: null,
      }),
    ];
  } finally {
    await server.close();
  }
}
