/**
 * startAgent: load the user's functions (on worker threads by default), dial the parent,
 * serve until told (or forced) to leave. Never calls process.exit: the bin does, so the agent
 * can also run in-process.
 */
import { type Codec, v8Codec } from "@flame-ts/pool-core/protocol";
import type { ParentDescriptor } from "@flame-ts/pool-core/wire";
import { entryUrl } from "./entry-url.js";
import { usableCpus } from "./executor/cpus.js";
import { type Executor, type ExecutorSink, SinkRelay } from "./executor/executor.js";
import { InlineExecutor } from "./executor/inline.js";
import { type FirstThread, ThreadPool } from "./executor/thread-pool.js";
import { type AgentExit, EXIT } from "./exit-codes.js";
import { LifecycleDriver } from "./lifecycle-driver.js";

export interface AgentOptions {
  readonly descriptor: ParentDescriptor;
  /** Module that defines the functions (file path, relative to cwd, or URL). Loaded before dialing. */
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
  let driver: LifecycleDriver | null = null;
  let stopReason: string | null = null;
  const exited = run();
  return {
    exited,
    stop(reason) {
      if (stopReason !== null) return;
      stopReason = reason;
      driver?.dispatch({ type: "stop", reason });
    },
  };

  async function run(): Promise<AgentExit> {
    const debug = options.debug ?? (() => {});
    const { descriptor } = options;
    const codec = options.codec ?? v8Codec;
    const sink = new SinkRelay();
    let executor: Executor;
    try {
      executor = await startExecutor(descriptor, options.entry, sink, debug, options.firstThread);
    } catch (err) {
      return { code: EXIT.BAD_CONFIG, reason: (err as Error)?.message ?? String(err) };
    }
    if (stopReason !== null) {
      await executor.close(descriptor.shutdownTimeoutMs);
      return { code: EXIT.OK, reason: stopReason };
    }
    // From here the machine decides: it dials, serves, and says when and how to leave.
    driver = new LifecycleDriver({ descriptor, codec, executor, sink, debug });
    driver.dispatch({ type: "start" });
    return driver.exited;
  }
}

/** Threads (default) or inline, as the pool's `execution` option says. */
async function startExecutor(
  descriptor: ParentDescriptor,
  entry: string | URL | undefined,
  sink: ExecutorSink,
  debug: (msg: string) => void,
  firstThread: FirstThread | undefined,
): Promise<Executor> {
  const url = entry === undefined ? null : entryUrl(entry);
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
  const slots = descriptor.singleUse ? 1 : descriptor.maxConcurrency;
  const threads = execution.threads ?? Math.min(slots, usableCpus());
  debug(`running functions on ${threads} worker thread(s)`);
  return ThreadPool.start(
    {
      entry: url,
      runnerId: descriptor.runnerId,
      maxFrameBytes: descriptor.maxFrameBytes,
      threads,
      threadMemoryMb: execution.threadMemoryMb,
      debug,
    },
    sink,
    firstThread,
  );
}
