/**
 * A worker thread of the runner: loads the app's entry module (which defines the functions),
 * then runs the tasks the agent's main thread sends, decoding inputs and encoding answers
 * here so the main thread only moves bytes. It keeps the values its calls track
 * (tracked-table.ts): they live as long as the thread. Uncaught errors are not caught: the thread dies,
 * and the main thread fails this thread's tasks with the error and starts a replacement.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  FlameError,
  type FlameErrorCode,
  listFunctionIds,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import { runToFrame } from "./answer.js";
import { AnswerBatchWriter, readTaskBatch, type UnpackedTask, type WorkerOrder } from "./batch.js";
import { abortContext, CallContext } from "./context.js";
import { TrackedTable } from "./tracked-table.js";
import type { FromWorker, ToWorker, WorkerSettings } from "./worker-messages.js";

const settings = workerData as WorkerSettings;
const port = parentPort!;
const contexts = new Map<number, CallContext>();

function post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer ?? []);
}

try {
  if (settings.entry !== null) await import(settings.entry);
} catch (error) {
  post({
    op: "loadFailed",
    message: `could not load entry ${settings.entry}: ${(error as Error)?.message ?? String(error)}${loaderHint(settings.entry)}`,
  });
  process.exit(1);
}

/** Answers and `released` reports of this turn of the event loop, posted together (batch.ts). */
const answers = new AnswerBatchWriter();
function postAnswers(): void {
  const { batch, transfer } = answers.take();
  port.postMessage(batch satisfies FromWorker, transfer);
}
/**
 * Answers leave in a nextTick: Node runs it once the callback that settled them (a task batch's
 * handler, or the microtask drain after it, where async functions settle) has returned, so the
 * answers of one callback leave together. setImmediate batched a whole loop turn, at the cost
 * of one more turn of this thread's loop: a postMessage round trip through setImmediate measured
 * 1–5 µs slower than a direct one, and strace at concurrency 1 counted 0.51 zero-timeout
 * epoll_waits per call on the thread with it, 0.32 with this (issue 23, loaded 2-core VM).
 */
function postSoon(): void {
  if (answers.empty) process.nextTick(postAnswers);
}

const table = new TrackedTable({
  runnerId: settings.runnerId,
  released: (group, index, error) => {
    postSoon();
    answers.released(error === undefined ? { group, index } : { group, index, error });
  },
  warn: (message) => process.stderr.write(`flame-runner[tracked]: ${message}\n`),
});

port.on("message", (msg: ToWorker) => {
  if (msg.op === "disposeAll") {
    void table.disposeAll().then(() => post({ op: "disposedAll" }));
    return;
  }
  readTaskBatch(msg, run, order);
});

function order(o: WorkerOrder): void {
  switch (o.op) {
    case "abort": {
      const ctx = contexts.get(o.id);
      const reason = new FlameError(o.error.code as FlameErrorCode, o.error.message);
      if (ctx !== undefined) abortContext(ctx, reason);
      return;
    }
    case "release":
      table.release(o.group, o.index);
      return;
    case "discard":
      table.discard(o.group);
      return;
  }
}

post({ op: "ready", functions: listFunctionIds() });

const answerSettings = {
  codec: v8Codec,
  maxFrameBytes: settings.maxFrameBytes,
  runnerId: settings.runnerId,
};

function run(task: UnpackedTask): void {
  const { id } = task;
  const ctx = new CallContext(task, settings.runnerId, table);
  contexts.set(id, ctx);
  runToFrame(answerSettings, task, ctx, table, (frame, tracked) => {
    contexts.delete(id);
    postSoon();
    answers.add(id, frame, tracked);
  });
}

/**
 * Node 20's worker threads do not inherit `--import` loaders (Node 22+ do): a TypeScript entry
 * that loads on the main thread under tsx fails here. Say so instead of a bare "Unknown file
 * extension".
 */
function loaderHint(entry: string | null): string {
  const major = Number(process.versions.node.split(".")[0]);
  if (entry === null || major >= 22 || !/\.[mc]?ts$/.test(entry)) return "";
  return '. On Node 20, worker threads do not inherit --import loaders such as tsx: run the pool on Node 22+, build the entry to JavaScript, or set execution: { mode: "inline" }';
}
