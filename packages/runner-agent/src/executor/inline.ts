/**
 * The opt-in executor for tiny I/O-bound functions: they run on the agent's own event loop,
 * saving the hop to a thread. The price: a function that blocks the loop stalls the link
 * (past the heartbeat timeout the parent drops the runner), an uncaught error ends the whole
 * runner (exit 5), and a function that ignores its signal cannot be stopped at its deadline.
 */
import {
  FlameError,
  type FlameErrorCode,
  listFunctionIds,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import type { WireError } from "@flame-ts/pool-core/wire";
import { runToFrame } from "./answer.js";
import { abortContext, CallContext } from "./context.js";
import type { Executor, ExecutorSink, TaskSpec } from "./executor.js";

export interface InlineOptions {
  /** URL of the entry module, imported on this thread; null when already registered. */
  readonly entry: string | null;
  readonly runnerId: string;
  readonly maxFrameBytes: number;
}

export class InlineExecutor implements Executor {
  readonly functions: readonly string[];
  readonly #contexts = new Map<number, CallContext>();

  private constructor(
    private readonly options: InlineOptions,
    private readonly sink: ExecutorSink,
  ) {
    this.functions = listFunctionIds();
  }

  static async start(options: InlineOptions, sink: ExecutorSink): Promise<InlineExecutor> {
    if (options.entry !== null) await import(options.entry);
    return new InlineExecutor(options, sink);
  }

  run(task: TaskSpec): void {
    const ctx = new CallContext(task, this.options.runnerId);
    this.#contexts.set(task.id, ctx);
    const settings = {
      codec: v8Codec,
      maxFrameBytes: this.options.maxFrameBytes,
      runnerId: this.options.runnerId,
    };
    runToFrame(
      settings,
      task.kind,
      task.id,
      task.fn,
      task.input,
      ctx,
      task.traceparent,
      (frame) => {
        this.#contexts.delete(task.id);
        this.sink.outcome(task.id, frame);
      },
    );
  }

  abort(id: number, error: WireError): void {
    const ctx = this.#contexts.get(id);
    if (ctx !== undefined)
      abortContext(ctx, new FlameError(error.code as FlameErrorCode, error.message));
  }

  terminate(): boolean {
    return false;
  }

  async close(): Promise<void> {
    for (const ctx of this.#contexts.values()) {
      abortContext(ctx, new FlameError("RUNNER_DOWN", "the runner is leaving"));
    }
  }
}
