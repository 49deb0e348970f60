/**
 * Bench 4, cold start: a call on an empty pool until its result (a runner process is
 * started, dials back, says hello, runs the call), vs a bare `node` start that opens a ws
 * connection and answers one echo. Goal (issue 7): ≤ 1.3×.
 */
import { alternateRuns, tryLoadFlame } from "../flame-side.js";
import { median, timeMs } from "../measure.js";
import { RawEchoServer, type RawPeer } from "../raw-echo.js";
import { type Figure, figure } from "../report.js";
import type { Scale } from "../scale.js";

export async function coldStartBench(scale: Scale): Promise<Figure[]> {
  const flame = await tryLoadFlame();
  const server = await RawEchoServer.listen();
  try {
    const rawColdStart = async (): Promise<number> => {
      let peer: RawPeer | undefined;
      try {
        return await timeMs(async () => {
          peer = await server.spawnPeer();
          await peer.call("echo", { n: 1 });
        });
      } finally {
        await peer?.close();
      }
    };
    const flameColdStart = async (): Promise<number> => {
      // Created and listening before the clock starts, as the raw server is.
      const pool = flame!.benchPool("bench-cold", { min: 0, max: 1 });
      try {
        await pool.start();
        return await timeMs(() => pool.call(flame!.fixtures.echo, { n: 1 }));
      } finally {
        await pool.stop();
      }
    };
    // One untimed start of each first, so disk caches are warm for both alike.
    await rawColdStart();
    if (flame) await flameColdStart();
    const runs = await alternateRuns(scale.pick(5, 1), rawColdStart, flame ? flameColdStart : null);
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
    ];
  } finally {
    await server.close();
  }
}
