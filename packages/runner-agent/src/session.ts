/**
 * One welcomed link: runs calls, casts and placed children from the parent, enforces
 * deadlines, and decides when the runner leaves (shutdown, single use, idle, link lost).
 *
 * A task stays in `tasks` until its function settles, even when it was already answered
 * (TIMEOUT, ABORTED): draining and idleness count work that is still running.
 */
import { FlameError, type FlameErrorCode } from "@flame-ts/pool-core";
import {
  type AnyMessage,
  type Codec,
  decodeFrame,
  encodeFrame,
  type FunctionContext,
  Heartbeat,
  isPromiseLike,
  lookupFunction,
  type ParentDescriptor,
  type ParentToRunner,
  type RunnerToParent,
  SendBatcher,
  toWireError,
  type WireError,
} from "@flame-ts/pool-core/protocol";
import { remoteSpanNeeded, runWithRemoteParent } from "@flame-ts/pool-core/telemetry";
import type { RawData } from "ws";
import type { WelcomedLink } from "./dial.js";
import { type AgentExit, EXIT } from "./exit-codes.js";

type TaskKind = "call" | "cast" | "child";
type Work = Extract<ParentToRunner, { t: "call" | "cast" | "child.start" }>;

/** Aborts a context's signal; the only way in, so user code holding ctx can't abort it. */
let abortContext: (ctx: CallContext, reason: unknown) => void;

/**
 * What the function sees as `ctx`. Its AbortController is made only when `signal` is read:
 * most functions never look, and one per call was ~8% of the runner's CPU on the call bench.
 */
class CallContext implements FunctionContext {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;

  constructor(
    readonly deadlineMs: number | null,
    readonly runnerId: string,
  ) {}

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  static {
    abortContext = (ctx, reason) => {
      if (ctx.#aborted) return;
      ctx.#aborted = true;
      ctx.#reason = reason;
      ctx.#controller?.abort(reason);
    };
  }
}

class Task {
  readonly ctx: CallContext;
  /** The parent already has its answer (TIMEOUT/ABORTED); the function's outcome is dropped. */
  answered = false;
  constructor(
    readonly id: number,
    readonly kind: TaskKind,
    readonly fn: string,
    readonly deadlineMs: number | null,
    runnerId: string,
  ) {
    this.ctx = new CallContext(deadlineMs, runnerId);
  }

  abort(reason: FlameError): void {
    abortContext(this.ctx, reason);
  }
}

export interface SessionOptions {
  readonly descriptor: ParentDescriptor;
  readonly codec: Codec;
  readonly heartbeatIntervalMs: number;
  readonly debug: (msg: string) => void;
}

export class Session {
  readonly ended: Promise<AgentExit>;
  private resolveEnded!: (exit: AgentExit) => void;
  private readonly tasks = new Map<number, Task>();
  private readonly heartbeat: Heartbeat;
  /** Answers finished in one tick leave in one write. */
  private readonly batcher: SendBatcher;
  private readonly descriptor: ParentDescriptor;
  private draining = false;
  private singleUseTaken = false;
  private leaving = false;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAtMs = Number.POSITIVE_INFINITY;
  private idleTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private drainReason = "";

  constructor(
    private readonly link: WelcomedLink,
    private readonly options: SessionOptions,
  ) {
    this.descriptor = options.descriptor;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    const { ws } = link;
    this.batcher = new SendBatcher(ws);
    this.heartbeat = new Heartbeat(
      ws,
      (silentMs) => {
        ws.terminate();
        this.leave(EXIT.LINK_LOST, `parent link lost: no heartbeat for ${silentMs} ms`);
      },
      options.heartbeatIntervalMs,
    );
    ws.on("close", (code, reason) => {
      const why = reason.toString() || `code ${code}`;
      this.leave(EXIT.LINK_LOST, `parent link lost: closed (${why})`);
    });
    ws.on("error", (err) => this.leave(EXIT.LINK_LOST, `parent link lost: ${err.message}`));
    link.takeFrames((data, isBinary) => this.onFrame(data, isBinary));
    this.armIdle();
  }

  /** Leave on our own initiative (SIGTERM, ...): tell the parent, stop everything. */
  stop(reason: string): void {
    this.leave(EXIT.OK, reason, "terminated");
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    this.heartbeat.sawTraffic();
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.send({ t: "error", id: null, code: "PROTOCOL", message: "frames must be binary" });
      return;
    }
    const decoded = decodeFrame(data, this.options.codec, this.descriptor.maxFrameBytes);
    if (!decoded.ok) {
      // The id only names a call when the frame was a request; otherwise report it unattached.
      const isRequest = decoded.t === "call" || decoded.t === "cast" || decoded.t === "child.start";
      this.options.debug(`bad frame (${decoded.t ?? "?"} ${decoded.id}): ${decoded.message}`);
      this.send({
        t: "error",
        id: isRequest ? decoded.id : null,
        code: decoded.code,
        message: decoded.message,
      });
      return;
    }
    const msg = decoded.msg;
    switch (msg.t) {
      case "call":
      case "cast":
      case "child.start":
        this.start(msg);
        return;
      case "cancel":
        this.cancel(msg.id);
        return;
      case "child.stop":
        this.tasks
          .get(msg.id)
          ?.abort(new FlameError("ABORTED", "The placed child was asked to stop."));
        return;
      case "shutdown":
        this.beginDrain(
          msg.reason,
          "timeoutMs" in msg ? msg.timeoutMs : this.descriptor.shutdownTimeoutMs,
        );
        return;
      default:
        this.send({
          t: "error",
          id: null,
          code: "PROTOCOL",
          message: `a runner does not accept "${msg.t}" messages`,
        });
    }
  }

  private start(msg: Work): void {
    const kind: TaskKind = msg.t === "child.start" ? "child" : msg.t;
    if (this.draining || this.singleUseTaken || this.leaving) {
      this.answer(msg.id, kind, {
        code: "RUNNER_DOWN",
        name: "FlameError",
        message: `runner ${this.descriptor.runnerId} is shutting down and takes no new work`,
      });
      return;
    }
    if (this.tasks.has(msg.id)) {
      this.send({
        t: "error",
        id: null,
        code: "PROTOCOL",
        message: `call id ${msg.id} is already running; ids must be unique per link`,
      });
      return;
    }
    const fn = lookupFunction(msg.fn);
    if (fn === undefined) {
      this.answer(msg.id, kind, {
        code: "UNKNOWN_FUNCTION",
        name: "FlameError",
        message: `runner ${this.descriptor.runnerId} does not define "${msg.fn}"`,
      });
      return;
    }
    if (this.descriptor.singleUse) this.singleUseTaken = true;
    const deadlineMs = msg.t === "call" ? msg.deadlineMs : null;
    const task = new Task(msg.id, kind, msg.fn, deadlineMs, this.descriptor.runnerId);
    this.tasks.set(msg.id, task);
    this.disarmIdle();
    if (deadlineMs !== null) {
      if (deadlineMs <= Date.now()) {
        this.expire(task);
      } else {
        this.armDeadline(deadlineMs);
      }
    }
    void this.run(task, fn.impl, msg.args, msg.traceparent);
  }

  /** Runs the function; a synchronous one is answered in this same tick. */
  private run(
    task: Task,
    impl: (input: unknown, ctx: FunctionContext) => unknown,
    args: unknown,
    traceparent: string | undefined,
  ): void {
    let outcome: unknown;
    try {
      // The runner's span continues the caller's trace; skipped when there is nothing to record.
      outcome = remoteSpanNeeded(traceparent)
        ? runWithRemoteParent(traceparent, "flame.run", () => impl(args, task.ctx), {
            "flame.function": task.fn,
            "flame.call.kind": task.kind,
            "flame.runner.id": this.descriptor.runnerId,
          })
        : impl(args, task.ctx);
    } catch (err) {
      this.finish(task, false, err);
      return;
    }
    if (isPromiseLike(outcome)) {
      outcome.then(
        (value) => this.finish(task, true, value),
        (err: unknown) => this.finish(task, false, err),
      );
    } else {
      this.finish(task, true, outcome);
    }
  }

  private finish(task: Task, ok: boolean, value: unknown): void {
    this.tasks.delete(task.id);
    if (!task.answered) {
      task.answered = true;
      if (ok) this.answerOk(task, value);
      else this.answer(task.id, task.kind, toWireError(value));
    }
    this.afterTaskEnded();
  }

  private answerOk(task: Task, value: unknown): void {
    const msg: RunnerToParent =
      task.kind === "call"
        ? { t: "result", id: task.id, ok: true, value }
        : task.kind === "cast"
          ? { t: "cast.done", id: task.id, ok: true }
          : { t: "child.exit", id: task.id, ok: true, value };
    try {
      this.sendFrame(encodeFrame(msg, this.options.codec, this.descriptor.maxFrameBytes));
    } catch (err) {
      // The result can't travel: fail this call only.
      this.answer(task.id, task.kind, toWireError(err, "SERIALIZATION"));
    }
  }

  private answer(id: number, kind: TaskKind, error: WireError): void {
    this.send(
      kind === "call"
        ? { t: "result", id, ok: false, error }
        : kind === "cast"
          ? { t: "cast.done", id, ok: false, error }
          : { t: "child.exit", id, ok: false, error },
    );
  }

  private failTask(task: Task, code: FlameErrorCode, message: string): void {
    const error = new FlameError(code, message);
    if (!task.answered) {
      task.answered = true;
      this.answer(task.id, task.kind, { code, name: "FlameError", message });
    }
    task.abort(error);
  }

  private cancel(id: number): void {
    const task = this.tasks.get(id);
    if (task === undefined) return;
    this.failTask(task, "ABORTED", "cancelled by the caller");
  }

  private expire(task: Task): void {
    this.failTask(task, "TIMEOUT", "did not finish by its deadline (ctx.signal was aborted)");
  }

  private afterTaskEnded(): void {
    if (this.leaving) return;
    if (this.descriptor.singleUse && this.singleUseTaken && this.tasks.size === 0) {
      this.leave(EXIT.OK, "single use: its one task ended", "single_use");
      return;
    }
    if (this.draining && this.tasks.size === 0) {
      this.leave(EXIT.OK, `asked to shut down (${this.drainReason})`);
      return;
    }
    this.armIdle();
  }

  private beginDrain(reason: string, timeoutMs: number): void {
    if (this.draining) return;
    this.draining = true;
    this.drainReason = reason;
    this.disarmIdle();
    for (const task of this.tasks.values()) {
      if (task.kind === "child") {
        task.abort(new FlameError("ABORTED", `runner shutting down (${reason})`));
      }
    }
    if (this.tasks.size === 0) {
      this.leave(EXIT.OK, `asked to shut down (${reason})`);
      return;
    }
    this.drainTimer = setTimeout(() => {
      for (const task of this.tasks.values()) {
        this.failTask(
          task,
          "RUNNER_DOWN",
          `the runner shut down before the call finished (drain bound ${timeoutMs} ms)`,
        );
      }
      this.leave(EXIT.OK, `asked to shut down (${reason}); drain bound of ${timeoutMs} ms reached`);
    }, timeoutMs);
  }

  private armIdle(): void {
    const afterMs = this.descriptor.idleShutdownAfterMs;
    if (afterMs === null || this.tasks.size > 0 || this.draining || this.leaving) return;
    this.disarmIdle();
    this.idleTimer = setTimeout(
      () => this.leave(EXIT.OK, `idle for ${afterMs} ms`, "idle"),
      afterMs,
    );
  }

  private disarmIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private armDeadline(atMs: number): void {
    if (atMs >= this.deadlineTimerAtMs) return;
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAtMs = atMs;
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(0, atMs - Date.now()));
  }

  /** One timer for every call's deadline: expire what is due, re-arm for the next. */
  private onDeadline(): void {
    this.deadlineTimer = null;
    this.deadlineTimerAtMs = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const task of this.tasks.values()) {
      if (task.deadlineMs === null || task.answered) continue;
      if (task.deadlineMs <= now) this.expire(task);
      else if (task.deadlineMs < next) next = task.deadlineMs;
    }
    if (next !== Number.POSITIVE_INFINITY) this.armDeadline(next);
  }

  private send(msg: AnyMessage): void {
    try {
      this.sendFrame(encodeFrame(msg, this.options.codec, this.descriptor.maxFrameBytes));
    } catch (err) {
      this.options.debug(`could not send ${msg.t}: ${(err as Error).message}`);
    }
  }

  private sendFrame(frame: Uint8Array): void {
    this.batcher.send(frame);
  }

  /**
   * The single way out. `announce` is sent to the parent as `shutdown {reason}` first; on a
   * clean exit the socket is closed gracefully so answers already queued reach the parent.
   */
  private leave(code: AgentExit["code"], reason: string, announce?: string): void {
    if (this.leaving) return;
    this.leaving = true;
    if (announce !== undefined) this.send({ t: "shutdown", reason: announce });
    this.heartbeat.stop();
    this.disarmIdle();
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    for (const task of this.tasks.values()) {
      task.abort(new FlameError("RUNNER_DOWN", `runner leaving: ${reason}`));
    }
    const { ws } = this.link;
    if (code !== EXIT.OK || ws.readyState !== ws.OPEN) {
      ws.terminate();
      this.resolveEnded({ code, reason });
      return;
    }
    // Give queued frames a bounded moment to flush, then go regardless.
    const bound = setTimeout(() => {
      ws.terminate();
      this.resolveEnded({ code, reason });
    }, 1_000);
    ws.once("close", () => {
      clearTimeout(bound);
      this.resolveEnded({ code, reason });
    });
    ws.close(1000, reason.slice(0, 120));
  }
}
