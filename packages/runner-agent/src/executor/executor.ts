/**
 * Where a runner's functions execute. Two implementations: worker threads (the default, see
 * thread-pool.ts) and inline on the agent's own event loop (inline.ts). The session never
 * decodes a function's input or encodes its result itself: it hands the input bytes over and
 * gets an encoded answer frame back, so with threads its event loop only moves bytes.
 */
import type { WireError, WorkKind } from "@flame-ts/pool-core/wire";

export interface TaskSpec {
  readonly id: number;
  readonly kind: WorkKind;
  readonly fn: string;
  /**
   * The codec's encoding of the input: a view into the received frame, copied into the thread's
   * batch, or (a large one) its buffer transferred to the thread (batch.ts), or decoded at once
   * (inline). The executor may detach that buffer: nothing may read the frame after `run`.
   */
  readonly input: Uint8Array;
  /** ctx.deadlineMs: epoch ms on this runner's clock; null = none. */
  readonly deadlineMs: number | null;
  readonly traceparent: string | undefined;
  /** ctx.idempotencyKey as the parent sent it; absent: none sent, the context makes one. */
  readonly idempotencyKey?: string | undefined;
  /** ctx.attempt: 1 (the default) for the first attempt, 2 for the first retry, … */
  readonly attempt?: number | undefined;
  /** Pinned (calls only): run where call `on`'s tracked values live, in their thread. */
  readonly on?: number | undefined;
  /** With `on`: which of that call's values is `ctx.resource`. */
  readonly onIndex?: number | undefined;
}

export interface ExecutorSink {
  /**
   * The function settled: `frame` is its encoded answer (result, cast.done or child.exit);
   * `tracked`: the indices of the values it tracked that the result carries (kept until released).
   */
  outcome(id: number, frame: Uint8Array, tracked: readonly number[]): void;
  /** The work stopped without an answer of its own (its thread died or was terminated). */
  lost(id: number, error: WireError): void;
  /**
   * Tracked value `index` of call `group` is gone: released (its dispose ran; `error` when it
   * threw; or it was not held), or `lost` with its thread.
   */
  released(group: number, index: number, error: WireError | undefined, lost: boolean): void;
}

export interface Executor {
  /** The function ids the entry module defined (reported in the hello). */
  readonly functions: readonly string[];
  /** Starts the task now (a staged one that a thread already claimed runs there: nothing to do). */
  run(task: TaskSpec): void;
  /**
   * The task waits queued for a slot: post it ahead of time to a busy thread, which starts it
   * the moment a task of its own ends (staging.ts). False when it cannot (it then waits on the
   * main thread alone). Either way `run` starts it, `withdraw` takes it back.
   */
  stage(task: TaskSpec): boolean;
  /**
   * A queued task will not run here (answered, or given back): a staged one is taken back.
   * False when a thread claimed it first; between `hold` and `letGo` that cannot happen.
   */
  withdraw(id: number): boolean;
  /**
   * The machine is about to step: no thread claims a staged task from now until `letGo`.
   * Returns the staged tasks threads claimed since the last call: they run now.
   */
  hold(): readonly number[];
  letGo(): void;
  /** Aborts the task's ctx.signal with `error` (a FlameError on the function's side). */
  abort(id: number, error: WireError): void;
  /** Stops the task's work now; false when this executor cannot (inline). */
  terminate(id: number): boolean;
  /**
   * The parent released tracked value `index` of call `group`: dispose it once the pinned call
   * on it running now (if any) ends, then report `released` (also when it is not held).
   */
  release(group: number, index: number): void;
  /** Call `group`'s answer was dropped (answered early): dispose all it kept, report nothing. */
  discard(group: number): void;
  /**
   * Stops everything: disposes every tracked value (waiting at most `disposeBoundMs` for their
   * disposes), then resolves once no function code runs any more.
   */
  close(disposeBoundMs: number): Promise<void>;
}

/**
 * The executor starts (and reports the functions for the hello) before the session that
 * consumes its outcomes exists; the session attaches itself here before it takes a frame.
 */
export class SinkRelay implements ExecutorSink {
  target: ExecutorSink | null = null;

  outcome(id: number, frame: Uint8Array, tracked: readonly number[]): void {
    this.target?.outcome(id, frame, tracked);
  }

  lost(id: number, error: WireError): void {
    this.target?.lost(id, error);
  }

  released(group: number, index: number, error: WireError | undefined, lost: boolean): void {
    this.target?.released(group, index, error, lost);
  }
}
