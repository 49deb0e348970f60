/**
 * The floor a worker thread adds to one call: the p50 round trip between this thread and an
 * idle worker that answers at once. Reported beside the thread executor's p50 at concurrency 1
 * (call-path bench), since no executor that hands work to a thread can answer faster than this.
 *
 * Two ways to wake the worker, each measured: a plain postMessage (the worker's event loop wakes
 * on its port), and piscina's (the idle worker sleeps in `Atomics.wait` on shared memory; the
 * caller posts, then `Atomics.notify`s, and the worker reads the message synchronously with
 * `receiveMessageOnPort`, skipping its event loop). Either way the answer comes back as a
 * postMessage: the caller's thread also serves a socket, so it cannot sleep on shared memory.
 */
import { Worker } from "node:worker_threads";
import { percentile } from "./measure.js";

export type HopWake = "port" | "atomics";

const ECHO_WORKER = `
const { parentPort, receiveMessageOnPort, workerData } = require("node:worker_threads");
if (workerData.wake === "port") {
  parentPort.on("message", (m) => parentPort.postMessage(m));
} else {
  const posted = new Int32Array(workerData.posted);
  let seen = 0;
  for (;;) {
    Atomics.wait(posted, 0, seen);
    seen = Atomics.load(posted, 0);
    for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) {
      if (m.message === "stop") process.exit(0);
      parentPort.postMessage(m.message);
    }
  }
}
`;

export async function threadHopP50Us(roundTrips: number, wake: HopWake = "port"): Promise<number> {
  // Messages posted so far: the worker sleeps while it equals the count it has read up to.
  const posted = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  const worker = new Worker(ECHO_WORKER, {
    eval: true,
    workerData: { wake, posted: posted.buffer },
  });
  const post = (message: unknown): void => {
    worker.postMessage(message);
    if (wake === "atomics") {
      Atomics.add(posted, 0, 1);
      Atomics.notify(posted, 0);
    }
  };
  try {
    const once = (): Promise<void> =>
      new Promise((resolve) => {
        worker.once("message", () => resolve());
        post(1);
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
    if (wake === "atomics") post("stop");
    await worker.terminate();
  }
}
