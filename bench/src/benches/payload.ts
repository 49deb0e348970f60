/**
 * Bench 6, payload: 1 KB, 64 KB, 1 MB and 16 MB arguments through `pool.call`, alone (the
 * function returns the byte length) and echoed back as the result, in MB/s of argument bytes,
 * vs the raw ws + v8 link doing the same.
 * Goal (issue 23): ≥ 0.85× raw at every size, on the default (threads) executor. Beside it,
 * the thread floor: the raw peer running `byteLength` on as many worker threads as the runner
 * has (fixtures/raw-peer.mjs), its frames transferred, not copied, to the thread.
 */
import { randomFillSync } from "node:crypto";
import { availableParallelism } from "node:os";
import { compareClosedLoops, withFlamePool } from "../flame-side.js";
import { type LoadResult, median } from "../measure.js";
import { RawEchoServer } from "../raw-echo.js";
import { type Figure, figure, type Goal } from "../report.js";
import type { Scale } from "../scale.js";

const CONCURRENCY = 8;
const GOAL: Goal = { on: "ratio", op: ">=", target: 0.85 };
const MIB = 1024 * 1024;
/**
 * A 16 MiB argument's frame (header, v8's framing) is a little over the 16 MiB default
 * `maxFrameBytes`; the pool takes frames up to this so the largest size measures bytes, not a
 * refusal. The raw link's ws accepts up to 100 MiB by default.
 */
const MAX_FRAME_BYTES = 17 * MIB;
/**
 * The raw link queues whatever its callers send; the pool's link holds at most its send
 * high-water mark (32 MiB by default) and fails a call OVERLOADED past it, which 8 callers of
 * 16 MiB each reach at once. Room for every caller's frame keeps the two sides comparable.
 */
const SEND_HIGH_WATER_BYTES = CONCURRENCY * MAX_FRAME_BYTES;
/** The runner's default thread count here (agent.ts: slots, capped by usable CPUs; no quota). */
const RUNNER_THREADS = Math.min(CONCURRENCY, availableParallelism());
const FLOOR = "raw ws+v8 on threads";
/**
 * Both directions: the argument alone (the function returns its length), and the argument
 * and a result of the same size (echo). MB/s counts the argument's bytes.
 */
const WAYS = [
  { label: "args", fn: "byteLength" },
  { label: "args and result", fn: "echo" },
] as const;

export async function payloadBench(scale: Scale): Promise<Figure[]> {
  const sizes = [
    { label: "1 KB", bytes: 1024, calls: scale.pick(10_000, 32) },
    { label: "64 KB", bytes: 64 * 1024, calls: scale.pick(3_000, 16) },
    { label: "1 MB", bytes: MIB, calls: scale.pick(300, 8) },
    { label: "16 MB", bytes: 16 * MIB, calls: scale.pick(40, 2) },
  ];
  const server = await RawEchoServer.listen();
  try {
    const peer = await server.spawnPeer();
    const floorPeer = await server.spawnPeer({ threads: RUNNER_THREADS });
    try {
      return await withFlamePool(
        "bench-payload",
        {
          min: 1,
          max: 1,
          maxConcurrency: CONCURRENCY,
          maxFrameBytes: MAX_FRAME_BYTES,
          link: { sendHighWaterBytes: SEND_HIGH_WATER_BYTES },
        },
        async (side) => {
          const figures: Figure[] = [];
          for (const size of sizes) {
            const payload = randomFillSync(new Uint8Array(size.bytes));
            for (const way of WAYS) {
              const megabytesPerSecond = (run: LoadResult): number =>
                (run.calls * size.bytes) / 1e6 / (run.elapsedMs / 1000);
              const raw = (): Promise<unknown> => peer.call(way.fn, payload);
              const flame = side
                ? (): Promise<unknown> => side.pool.call(side.fixtures[way.fn], payload)
                : null;
              const runs = await compareClosedLoops(raw, flame, {
                load: { calls: size.calls, concurrency: CONCURRENCY },
                warmup: { calls: Math.ceil(size.calls / 5), concurrency: CONCURRENCY },
                rounds: scale.rounds,
                floor: () => floorPeer.call(way.fn, payload),
              });
              const throughput = (list: LoadResult[]) => median(list.map(megabytesPerSecond));
              const measure = `${size.label} ${way.label} @${CONCURRENCY}`;
              figures.push(
                figure({
                  bench: "payload",
                  measure,
                  unit: "MB/s",
                  value: throughput(runs.flame),
                  baselineName: "raw ws+v8",
                  baseline: throughput(runs.baseline),
                  goal: GOAL,
                }),
                figure({
                  bench: "payload",
                  measure: `${measure}: the thread floor vs raw`,
                  unit: "MB/s",
                  value: throughput(runs.floor),
                  baselineName: "raw ws+v8",
                  baseline: throughput(runs.baseline),
                  goal: null,
                }),
                figure({
                  bench: "payload",
                  measure: `${measure} vs the thread floor`,
                  unit: "MB/s",
                  value: throughput(runs.flame),
                  baselineName: FLOOR,
                  baseline: throughput(runs.floor),
                  goal: null,
                }),
              );
            }
          }
          return figures;
        },
      );
    } finally {
      await peer.close();
      await floorPeer.close();
    }
  } finally {
    await server.close();
  }
}
