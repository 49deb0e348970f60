/**
 * startAgent: load the user's functions (on worker threads by default) while dialing the
 * parent, serve until told (or forced) to leave. Never calls process.exit: the bin does, so the agent
 * can also run in-process.
 */
import { type Codec, v8Codec } from "@flame-ts/pool-core/protocol";
import type { ParentDescriptor } from "@flame-ts/pool-core/wire";
import { entryUrl } from "./entry-url.js";
import { usableCpus } from "./executor/cpus.js";
import { type Executor, type ExecutorSink, SinkRelay } from "./executor/executor.js";
import { InlineExecutor } from "./executor/inline.js";
import { createStagingMemory } from "./executor/staging.js";
import { type FirstThread, ThreadPool } from "./executor/thread-pool.js";
import type { AgentExit } from "./exit-codes.js";
import { LifecycleDriver } from "./lifecycle-driver.js";
import { runnerSlots } from "./slots.js";

export interface AgentOptions {
  readonly descriptor: ParentDescriptor;
  /**
   * Module that defines the functions (file path, relative to cwd, or URL). Loaded while the
   * agent dials: the parent hears `loading` until it has, then the hello with its functions.
   */
  readonly entry?: string | URL;
  readonly codec?: Codec;
  /** Diagnostic lines (never the final exit line). */
  readonly debug?: (msg: string) => void;
  /**
   * @internal The bin starts the first worker thread before it loads this module (see
   * `startFirstThread`); it must have been started with this descriptor's settings and entry.
   */
  readonly firstThread?: FirstThread;
}

export { entryUrl };

export interface RunningAgent {
  /** Settles once with how and why the agent ended. Never rejects. */
  readonly exited: Promise<AgentExit>;
  /** Leave now (exit code 0), telling the parent if connected. */
  stop(reason: string): void;
}

export function startAgent(options: AgentOptions): RunningAgent {
  const { descriptor } = options;
  const debug = options.debug ?? (() => {});
  const sink = new SinkRelay();
  const url = options.entry === undefined ? null : entryUrl(options.entry);
  const threads = functionThreads(descriptor);
  // The entry loads (on the first thread, or inline) while the machine dials the parent.
  const loading = startExecutor(descriptor, url, sink, debug, options.firstThread, threads);
  const driver = new LifecycleDriver({
    descriptor,
    codec: options.codec ?? v8Codec,
    loading,
    entry: url,
    threads,
    sink,
    debug,
  });
  driver.dispatch({ type: "start" });
  return {
    exited: driver.exited,
    // A second stop, or one after the agent decided to leave, is the machine's no-op.
    stop: (reason) => driver.dispatch({ type: "stop", reason }),
  };
}

/**
 * Threads that run the functions: `execution.threads`, else one per slot up to the CPUs the
 * runner may use; 1 inline (its own event loop).
 */
function functionThreads(descriptor: ParentDescriptor): number {
  const { execution } = descriptor;
  if (execution.mode === "inline") return 1;
  return execution.threads ?? Math.min(runnerSlots(descriptor), usableCpus());
}

/** Threads (default) or inline, as the pool's `execution` option says. */
async function startExecutor(
  descriptor: ParentDescriptor,
  url: string | null,
  sink: ExecutorSink,
  debug: (msg: string) => void,
  firstThread: FirstThread | undefined,
  threads: number,
): Promise<Executor> {
  const { execution } = descriptor;
  if (execution.mode === "inline") {
    try {
      return await InlineExecutor.start(
        { entry: url, runnerId: descriptor.runnerId, maxFrameBytes: descriptor.maxFrameBytes },
        sink,
      );
    } catch (err) {
      throw new Error(`could not load entry ${url}: ${(err as Error)?.message ?? String(err)}`);
    }
  }
  debug(`running functions on ${threads} worker thread(s)`);
  return ThreadPool.start(
    {
      entry: url,
      runnerId: descriptor.runnerId,
      maxFrameBytes: descriptor.maxFrameBytes,
      staging: firstThread?.staging ?? createStagingMemory(),
      threads,
      threadMemoryMb: execution.threadMemoryMb,
      debug,
    },
    sink,
    firstThread,
  );
}
