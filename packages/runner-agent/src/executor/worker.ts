/**
 * A worker thread of the runner: loads the app's entry module (which defines the functions),
 * then runs the tasks the agent's main thread sends, decoding inputs and encoding answers
 * here so the main thread only moves bytes. Uncaught errors are not caught: the thread dies,
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
import { AnswerBatchWriter, readTaskBatch, type UnpackedTask } from "./batch.js";
import { abortContext, CallContext } from "./context.js";
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

port.on("message", (batch: ToWorker) => {
  readTaskBatch(batch, run, (order) => {
    const ctx = contexts.get(order.id);
    const reason = new FlameError(order.error.code as FlameErrorCode, order.error.message);
    if (ctx !== undefined) abortContext(ctx, reason);
  });
});

/** Answers of this turn of the event loop, posted together (batch.ts). */
const answers = new AnswerBatchWriter();
function postAnswers(): void {
  const { batch, transfer } = answers.take();
  port.postMessage(batch satisfies FromWorker, transfer);
}
post({ op: "ready", functions: listFunctionIds() });

function run(task: UnpackedTask): void {
  const { id, kind, fn, input, traceparent } = task;
  const ctx = new CallContext(task, settings.runnerId);
  contexts.set(id, ctx);
  const answerSettings = {
    codec: v8Codec,
    maxFrameBytes: settings.maxFrameBytes,
    runnerId: settings.runnerId,
  };
  runToFrame(answerSettings, kind, id, fn, input, ctx, traceparent, (frame) => {
    contexts.delete(id);
    // setImmediate runs once this turn's other answers (and their microtasks) are in.
    if (answers.empty) setImmediate(postAnswers);
    answers.add(id, frame);
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
