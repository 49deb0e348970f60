/**
 * The opt-in executor for tiny I/O-bound functions: they run on the agent's own event loop,
 * saving the hop to a thread. The price: a function that blocks the loop stalls the link
 * (past the heartbeat timeout the parent drops the runner), an uncaught error ends the whole
 * runner (exit 5), and a function that ignores its signal cannot be stopped at its deadline.
 * Tracked values live in one table for the whole runner (tracked-table.ts).
 */
import {
  FlameError,
  type FlameErrorCode,
  listFunctionIds,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import type { WireError } from "@flame-ts/pool-core/wire";
import { runToFrame } from "./answer.js";
import { withinBound } from "./bound.js";
import { abortContext, CallContext } from "./context.js";
import type { Executor, ExecutorSink, TaskSpec } from "./executor.js";
import { TrackedTable } from "./tracked-table.js";

export interface InlineOptions {
  /** URL of the entry module, imported on this thread; null when already registered. */
  readonly entry: string | null;
  readonly runnerId: string;
  readonly maxFrameBytes: number;
}

export class InlineExecutor implements Executor {
  readonly functions: readonly string[];
  readonly #contexts = new Map<number, CallContext>();
  readonly #table: TrackedTable;
  readonly #settings: { codec: typeof v8Codec; maxFrameBytes: number; runnerId: string };

  private constructor(
    private readonly options: InlineOptions,
    private readonly sink: ExecutorSink,
  ) {
    this.functions = listFunctionIds();
    this.#table = new TrackedTable({
      runnerId: options.runnerId,
      released: (group, index, error) => sink.released(group, index, error, false),
      warn: (message) => process.stderr.write(`flame-runner[tracked]: ${message}\n`),
    });
    this.#settings = {
      codec: v8Codec,
      maxFrameBytes: options.maxFrameBytes,
      runnerId: options.runnerId,
    };
  }

  static async start(options: InlineOptions, sink: ExecutorSink): Promise<InlineExecutor> {
    if (options.entry !== null) await import(options.entry);
    return new InlineExecutor(options, sink);
  }

  run(task: TaskSpec): void {
    const ctx = new CallContext(task, this.options.runnerId, this.#table);
    this.#contexts.set(task.id, ctx);
    runToFrame(this.#settings, task, ctx, this.#table, (frame, tracked) => {
      this.#contexts.delete(task.id);
      this.sink.outcome(task.id, frame, tracked);
    });
  }

  /** One event loop: nothing can start a task ahead of it. */
  stage(): boolean {
    return false;
  }

  withdraw(): boolean {
    return true;
  }

  hold(): readonly number[] {
    return [];
  }

  letGo(): void {}

  abort(id: number, error: WireError): void {
    const ctx = this.#contexts.get(id);
    if (ctx !== undefined)
      abortContext(ctx, new FlameError(error.code as FlameErrorCode, error.message));
  }

  terminate(): boolean {
    return false;
  }

  release(group: number, index: number): void {
    this.#table.release(group, index);
  }

  discard(group: number): void {
    this.#table.discard(group);
  }

  async close(disposeBoundMs: number): Promise<void> {
    for (const ctx of this.#contexts.values()) {
      abortContext(ctx, new FlameError("RUNNER_DOWN", "the runner is leaving"));
    }
    await withinBound(this.#table.disposeAll(), disposeBoundMs);
  }
}
