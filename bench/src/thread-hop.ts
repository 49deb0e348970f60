/**
 * The floor a worker thread adds to one call: the p50 round trip of a postMessage ping-pong
 * between this thread and an idle worker that answers at once. Reported beside the thread
 * executor's p50 at concurrency 1 (call-path bench), since no executor that hands work to a
 * thread can answer faster than this.
 */
import { Worker } from "node:worker_threads";
import { percentile } from "./measure.js";

const ECHO_WORKER = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => parentPort.postMessage(m));
`;

export async function threadHopP50Us(roundTrips: number): Promise<number> {
  const worker = new Worker(ECHO_WORKER, { eval: true });
  try {
    const once = (): Promise<void> =>
      new Promise((resolve) => {
        worker.once("message", () => resolve());
        worker.postMessage(1);
      });
    for (let i = 0; i < Math.min(1_000, roundTrips); i += 1) await once();
    const latenciesMs = new Float64Array(roundTrips);
    for (let i = 0; i < roundTrips; i += 1) {
      const startMs = performance.now();
      await once();
      latenciesMs[i] = performance.now() - startMs;
    }
    latenciesMs.sort();
    return percentile(latenciesMs, 50) * 1000;
  } finally {
    await worker.terminate();
  }
}
