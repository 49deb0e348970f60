/**
 * A call's critical path at concurrency 1, split where it crosses a process or a thread: each
 * leg's time in the pool (threads) and in the thread floor (the raw peer on worker threads),
 * from stamps both processes take on the one monotonic clock (fixtures/link-stamps.mjs). The
 * wire and the wake-ups cost both alike; the legs the pool's main threads own show its
 * bookkeeping, so where p50 @1 exceeds the floor's these say in which leg (issue 23).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { installLinkStamps, type LinkStamps } from "../fixtures/link-stamps.mjs";
import { tryLoadFlame } from "./flame-side.js";
import { median, runClosedLoop } from "./measure.js";
import { RawEchoServer } from "./raw-echo.js";
import type { Scale } from "./scale.js";

export type { LinkStamps };

/** The legs of one round trip, in order; their sum is the time from one call's send to the next's. */
export const LEGS = [
  "to the runner (ws send → its main thread has the frame)",
  "the runner's main thread: call in → posted to a thread",
  "the thread hop both ways and the thread's work",
  "the runner's main thread: answer in → sent",
  "back to the parent (ws send → the parent has the frame)",
  "the parent: answer in → next call sent",
] as const;

export type Leg = (typeof LEGS)[number];

/** One measured run's span on the parent's clock (ns): only calls sent inside it are split. */
export interface StampWindow {
  readonly startNs: number;
  readonly endNs: number;
}

/** Below this share of a window's calls matched to the peer's stamps, the split is refused. */
const MIN_MATCHED = 0.99;

/** The first stamp after `ns` (the list is ascending), or undefined. */
function firstAfter(list: readonly number[], ns: number): number | undefined {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((list[mid] as number) > ns) high = mid;
    else low = mid + 1;
  }
  return list[low];
}

/**
 * Each leg's nanoseconds, one entry per call sent in a window, at concurrency 1. A call is
 * followed through the first stamp after the last on each side; one whose answer did not
 * reach the parent before the next call left is not a round trip of the split's shape (a frame
 * the split does not expect crossed meanwhile). Throws when the peer stamped nothing, or when
 * fewer than 99 % of the calls match.
 */
export function splitRoundTrips(
  parent: LinkStamps,
  peer: LinkStamps,
  windows: readonly StampWindow[],
): Record<Leg, number[]> {
  if (peer.wsMessage.length === 0 || peer.toThread.length === 0) {
    throw new Error(
      "critical path: the peer stamped no frame or no post to a thread: start it with --import fixtures/link-stamps-preload.mjs, FLAME_BENCH_STAMPS_DIR set, and worker threads",
    );
  }
  const legs = Object.fromEntries(LEGS.map((leg) => [leg, [] as number[]])) as Record<
    Leg,
    number[]
  >;
  let calls = 0;
  let matched = 0;
  for (const { startNs, endNs } of windows) {
    const sends = parent.wsSend.filter((ns) => ns >= startNs && ns <= endNs);
    for (let i = 0; i + 1 < sends.length; i += 1) {
      calls += 1;
      const sent = sends[i] as number;
      const next = sends[i + 1] as number;
      const frameIn = firstAfter(peer.wsMessage, sent);
      const posted = frameIn === undefined ? undefined : firstAfter(peer.toThread, frameIn);
      const answerIn = posted === undefined ? undefined : firstAfter(peer.fromThread, posted);
      const answerOut = answerIn === undefined ? undefined : firstAfter(peer.wsSend, answerIn);
      const back = answerOut === undefined ? undefined : firstAfter(parent.wsMessage, answerOut);
      if (
        frameIn === undefined ||
        posted === undefined ||
        answerIn === undefined ||
        answerOut === undefined ||
        back === undefined ||
        back > next
      ) {
        continue;
      }
      matched += 1;
      const at = [sent, frameIn, posted, answerIn, answerOut, back, next];
      for (const [j, leg] of LEGS.entries()) {
        legs[leg].push((at[j + 1] as number) - (at[j] as number));
      }
    }
  }
  if (calls === 0 || matched < calls * MIN_MATCHED) {
    throw new Error(
      `critical path: ${matched} of ${calls} calls matched the peer's stamps (needs ${MIN_MATCHED * 100} %): another frame or message crossed during the measured runs`,
    );
  }
  return legs;
}

/** Each leg's p50 in µs, per side, and the round trip's (send to next send). */
export interface CriticalPath {
  readonly pool: Record<Leg, number>;
  readonly floor: Record<Leg, number>;
  readonly poolRoundTripUs: number;
  readonly floorRoundTripUs: number;
}

const PRELOAD = fileURLToPath(new URL("../fixtures/link-stamps-preload.mjs", import.meta.url));

/**
 * The pool (threads, one runner) and the thread floor (a raw peer on `threads` worker threads),
 * each started with the stamping preload, warmed, then measured at concurrency 1 in
 * alternating runs (`scale.rounds`, 7 in the full run: a p50 at 1 drifts between runs here).
 * Null when the pool is not built.
 */
export async function measureCriticalPath(
  scale: Scale,
  threads: number,
): Promise<CriticalPath | null> {
  const flame = await tryLoadFlame();
  if (!flame) return null;
  const dir = await mkdtemp(join(tmpdir(), "flame-bench-stamps-"));
  const execArgv = ["--import", pathToFileURL(PRELOAD).href];
  const env = { FLAME_BENCH_STAMPS_DIR: dir };
  const server = await RawEchoServer.listen();
  const parentStamps = installLinkStamps();
  const windows = { pool: [] as StampWindow[], floor: [] as StampWindow[] };
  let runnerPid = Number.NaN;
  let floorPid = Number.NaN;
  try {
    const floor = await server.spawnPeer({ threads, execArgv, env });
    floorPid = floor.pid;
    const pool = flame.benchPool(
      "bench-critical-path",
      { min: 1, max: 1, maxConcurrency: 128, execution: { mode: "threads" } },
      execArgv,
      env,
    );
    try {
      await pool.start();
      runnerPid = Number(pool.snapshot().runners[0]?.meta.pid);
      const input = { n: 1 };
      const sides = {
        floor: () => floor.call("echo", input),
        pool: () => pool.call(flame.fixtures.echo, input),
      };
      const load = { calls: scale.pick(2_000, 40), concurrency: 1 };
      for (const call of Object.values(sides)) await runClosedLoop(call, load);
      const rounds = scale.rounds === 1 ? 1 : 7;
      for (let round = 0; round < rounds; round += 1) {
        for (const side of ["floor", "pool"] as const) {
          const startNs = Number(process.hrtime.bigint());
          await runClosedLoop(sides[side], load);
          windows[side].push({ startNs, endNs: Number(process.hrtime.bigint()) });
        }
      }
    } finally {
      await pool.stop();
      await floor.close();
    }
  } finally {
    parentStamps.uninstall();
    await server.close();
  }
  try {
    const peerStamps = async (pid: number, what: string): Promise<LinkStamps> => {
      try {
        return JSON.parse(await readFile(join(dir, `${pid}.json`), "utf8")) as LinkStamps;
      } catch (error) {
        throw new Error(
          `critical path: no stamps from the ${what} (pid ${pid}): ${(error as Error).message}`,
        );
      }
    };
    const pool = splitRoundTrips(
      parentStamps.stamps,
      await peerStamps(runnerPid, "runner"),
      windows.pool,
    );
    const floor = splitRoundTrips(
      parentStamps.stamps,
      await peerStamps(floorPid, "raw peer"),
      windows.floor,
    );
    return {
      pool: p50sUs(pool),
      floor: p50sUs(floor),
      poolRoundTripUs: roundTripP50Us(pool),
      floorRoundTripUs: roundTripP50Us(floor),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function p50sUs(legs: Record<Leg, number[]>): Record<Leg, number> {
  return Object.fromEntries(LEGS.map((leg) => [leg, median(legs[leg]) / 1000])) as Record<
    Leg,
    number
  >;
}

/** The p50 of each call's whole round trip (the sum of its legs). */
function roundTripP50Us(legs: Record<Leg, number[]>): number {
  const first = legs[LEGS[0]];
  const sums = first.map((_, i) => LEGS.reduce((sum, leg) => sum + (legs[leg][i] as number), 0));
  return median(sums) / 1000;
}
