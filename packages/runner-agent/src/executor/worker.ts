/**
 * A worker thread of the runner: loads the app's entry module (which defines the functions),
 * then runs the tasks the agent's main thread sends, decoding inputs and encoding answers
 * here so the main thread only moves bytes. It keeps the values its calls track
 * (tracked-table.ts): they live as long as the thread. Uncaught errors are not caught: the thread dies,
 * and the main thread fails this thread's tasks with the error and starts a replacement.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import {
  FlameError,
  type FlameErrorCode,
  listFunctionIds,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import { runToFrame } from "./answer.js";
import { AnswerBatchWriter } from "./answer-batch.js";
import { posted, readTaskBatch, type UnpackedTask, type WorkerOrder } from "./batch.js";
import { abortContext, CallContext } from "./context.js";
import { answersSeen, claimNext, type StagedEntry } from "./staging.js";
import { lowerThisThread } from "./thread-priority.js";
import { TrackedTable } from "./tracked-table.js";
import type { FromWorker, ToWorker, WorkerSettings } from "./worker-messages.js";

const settings = workerData as WorkerSettings;
const port = parentPort!;
// Before the entry loads: the link stays first in line for a core from the thread's first work.
const notLowered = lowerThisThread();
if (notLowered !== null) {
  process.stderr.write(`flame-runner[thread]: kept the main thread's priority: ${notLowered}\n`);
}
const contexts = new Map<number, CallContext>();
const stagingCells = new Int32Array(settings.staging);
/** Tasks posted ahead of time, oldest first: one starts when a task of this thread ends. */
const staged: StagedEntry<UnpackedTask>[] = [];
/**
 * Slots this thread's tasks freed that a staged task may take, by the answer batch that told
 * the main thread (staging.ts: valid only until the main thread takes that batch).
 */
const slotsHandedOn: number[] = [];
/** Slots freed by tasks whose answers wait in `answers`. */
let slotsFreedUnposted = 0;
/** Answer batches posted so far: each slot handed on is numbered by its batch. */
let answerBatches = 0;

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

/**
 * Answers and `released` reports of this turn of the event loop, posted together
 * (answer-batch.ts).
 */
const answers = new AnswerBatchWriter();
function postAnswers(): void {
  const { batch, transfer } = answers.take();
  answerBatches += 1;
  for (; slotsFreedUnposted > 0; slotsFreedUnposted -= 1) slotsHandedOn.push(answerBatches);
  // What the main thread posted while this thread computed is read now, so a staged task among
  // it takes a slot handed on in this very batch before the main thread hears of the end (after,
  // the slot is the machine's: staging.ts). The rest is done in order once the answers left.
  const later: (() => void)[] = [];
  if (slotsHandedOn.length > 0) {
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      take(m.message as ToWorker, later);
    }
  }
  const claimed = claimHandedOn();
  port.postMessage(posted(batch, batch.released) satisfies FromWorker, transfer);
  for (const step of later) step();
  for (const task of claimed) start(task);
}

/** Staged tasks for the slots this thread's tasks handed on that the main thread has not taken. */
function claimHandedOn(): UnpackedTask[] {
  // The main thread takes batches in order: those it took lead the list, and are its own now.
  const seen = answersSeen(stagingCells, settings.threadSlot);
  while (slotsHandedOn.length > 0 && (slotsHandedOn[0] as number) <= seen) slotsHandedOn.shift();
  const claimed: UnpackedTask[] = [];
  while (slotsHandedOn.length > 0 && staged.length > 0) {
    const batch = slotsHandedOn[0] as number;
    const next = claimNext(stagingCells, settings.threadSlot, batch, staged, Date.now());
    if (next === null) break;
    slotsHandedOn.shift();
    claimed.push(next);
  }
  return claimed;
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
  take(msg, null);
  for (const task of claimHandedOn()) start(task);
});

/**
 * One message from the main thread: its staged tasks join `staged` at once; what else it asks
 * (tasks to start, orders, disposing) is done now, or, given `later`, left there in order.
 */
function take(msg: ToWorker, later: (() => void)[] | null): void {
  const now = (step: () => void) => (later === null ? step() : later.push(step));
  if (!(msg instanceof Uint8Array) && msg.op === "disposeAll") {
    now(() => void table.disposeAll().then(() => post({ op: "disposedAll" })));
    return;
  }
  readTaskBatch(
    msg,
    (task) => {
      if (task.staging === undefined) {
        if (later === null) start(task);
        else later.push(() => start(task));
        return;
      }
      staged.push({ task, ...task.staging, deadlineMs: task.deadlineMs });
    },
    (o) => now(() => order(o)),
  );
}

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

function start(task: UnpackedTask): void {
  const { id } = task;
  const ctx = new CallContext(task, settings.runnerId, table);
  contexts.set(id, ctx);
  runToFrame(answerSettings, task, ctx, table, (frame, tracked) => {
    contexts.delete(id);
    postSoon();
    // Its slot frees as it ends, unless it is pinned (it had none) or its values keep it.
    if (task.on === undefined && tracked.length === 0) slotsFreedUnposted += 1;
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
