/**
 * One welcomed link: frames from the parent become machine events (through the driver,
 * lifecycle-driver.ts), and the machine's task effects become executor calls and frames. It
 * owns the heartbeat and one record per task (lifecycle/session-task.ts), nothing else: no
 * timer, no decision.
 *
 * The session never decodes a function's input or encodes its result: the executor does
 * (on a worker thread by default), so this event loop stays free for the link.
 */
import {
  type AnyMessage,
  type Codec,
  decodeFrame,
  encodeFrame,
  Heartbeat,
  SendBatcher,
} from "@flame-ts/pool-core/protocol";
import type { ParentDescriptor, WireError, WorkKind } from "@flame-ts/pool-core/wire";
import type { RawData } from "ws";
import type { WelcomedLink } from "./dial.js";
import { errorFrame, errorMessage } from "./executor/answer.js";
import { heldInput } from "./executor/batch.js";
import type { Executor, ExecutorSink, SinkRelay } from "./executor/executor.js";
import type { AgentEffect, AgentEvent } from "./lifecycle/agent-state.js";
import { moveSessionTask, type SessionTask } from "./lifecycle/session-task.js";

export interface SessionOptions {
  readonly descriptor: ParentDescriptor;
  readonly codec: Codec;
  readonly executor: Executor;
  /** Where the executor reports; the session attaches itself before taking any frame. */
  readonly sink: SinkRelay;
  readonly debug: (msg: string) => void;
  /** Hands an event to the agent's machine. */
  readonly dispatch: (event: AgentEvent) => void;
}

/** The effects a session carries out; the driver carries out `dial` and `leave` itself. */
type TaskEffect = Exclude<AgentEffect, { readonly type: "dial" | "leave" }>;

export class Session implements ExecutorSink {
  readonly #link: WelcomedLink;
  readonly #options: SessionOptions;
  readonly #descriptor: ParentDescriptor;
  readonly #heartbeat: Heartbeat;
  /** Answers finished in one tick leave in one write. */
  readonly #batcher: SendBatcher;
  readonly #functions: ReadonlySet<string>;
  readonly #tasks = new Map<number, SessionTask>();
  /**
   * Queued tasks the executor did not stage. While any waits, none is staged: a thread claims
   * staged tasks oldest first among the staged alone, and the machine starts the oldest first.
   */
  #unstagedQueued = 0;

  constructor(link: WelcomedLink, options: SessionOptions) {
    this.#link = link;
    this.#options = options;
    this.#descriptor = options.descriptor;
    // Frames buffered since the welcome are handed over by takeFrames, and an inline executor
    // answers synchronously: outcomes must reach this session from the first one on.
    options.sink.target = this;
    this.#functions = new Set(options.executor.functions);
    const { ws } = link;
    const { dispatch } = options;
    this.#batcher = new SendBatcher(ws);
    this.#heartbeat = new Heartbeat(
      ws,
      (silentMs) => {
        ws.terminate();
        dispatch({ type: "linkLost", reason: `no heartbeat for ${silentMs} ms` });
      },
      this.#descriptor.heartbeatIntervalMs,
      this.#descriptor.heartbeatTimeoutMs,
    );
    ws.on("close", (code, reason) => {
      const why = reason.toString() || `code ${code}`;
      dispatch({ type: "linkLost", reason: `closed (${why})` });
    });
    ws.on("error", (err) => dispatch({ type: "linkLost", reason: err.message }));
  }

  /** Starts taking the parent's frames: those that came with the welcome, then every later one. */
  takeFrames(): void {
    this.#link.takeFrames((data, isBinary) => this.#onFrame(data, isBinary));
  }

  /** ExecutorSink: a function settled with this answer frame (carrying `tracked` values). */
  outcome(id: number, frame: Uint8Array, tracked: readonly number[]): void {
    const task = this.#tasks.get(id);
    if (task !== undefined) this.#settle(id, task, frame);
    this.#options.dispatch({ type: "taskEnded", id, tracked });
  }

  /** ExecutorSink: a tracked value is gone (disposed on release, or lost with its thread). */
  released(group: number, index: number, error: WireError | undefined, lost: boolean): void {
    this.#send({
      t: "released",
      id: group,
      index,
      ...(error === undefined ? {} : { error }),
      ...(lost ? { lost: true as const } : {}),
    });
    this.#options.dispatch({ type: "released", id: group, index });
  }

  /** ExecutorSink: the work stopped with no answer of its own (thread died or terminated). */
  lost(id: number, error: WireError): void {
    const task = this.#tasks.get(id);
    if (task !== undefined) {
      this.#settle(id, task, errorFrame(this.#frameSettings(), task.kind, id, error));
    }
    this.#options.dispatch({ type: "taskEnded", id });
  }

  #settle(id: number, task: SessionTask, frame: Uint8Array): void {
    // Still queued: a thread started it on its own and it ended before the machine heard.
    const running = task.phase === "queued" ? this.#started(id, task) : task;
    this.#tasks.set(id, moveSessionTask(id, running, { phase: "settled", kind: task.kind, frame }));
  }

  /** A queued task starts: on the executor when it was not claimed by a thread already. */
  #started(id: number, task: Extract<SessionTask, { phase: "queued" }>): SessionTask {
    if (!task.staged) this.#unstagedQueued -= 1;
    const running = moveSessionTask(id, task, { phase: "running", kind: task.kind });
    this.#tasks.set(id, running);
    return running;
  }

  /** A queued task leaves without running here (answered, or given back to the parent). */
  #dropQueued(id: number): void {
    const task = this.#tasks.get(id);
    this.#tasks.delete(id);
    if (task?.phase !== "queued") return;
    if (!task.staged) {
      this.#unstagedQueued -= 1;
    } else if (!this.#options.executor.withdraw(id)) {
      // The driver holds the executor while the machine decides: a claim cannot slip in.
      this.#options.debug(`task ${id} was claimed by a thread while the machine dropped it`);
    }
  }

  carry(effect: TaskEffect): void {
    switch (effect.type) {
      case "run": {
        const task = this.#tasks.get(effect.id);
        if (task?.phase === "queued") this.#started(effect.id, task);
        else if (task?.phase === "received") {
          this.#tasks.set(
            effect.id,
            moveSessionTask(effect.id, task, { phase: "running", kind: task.kind }),
          );
        } else return;
        this.#options.executor.run(task.spec);
        return;
      }
      case "claimed": {
        const task = this.#tasks.get(effect.id);
        if (task?.phase === "queued") this.#started(effect.id, task);
        return;
      }
      case "queued": {
        const task = this.#tasks.get(effect.id);
        if (task?.phase !== "received") return;
        const spec = { ...task.spec, input: heldInput(task.spec.input) };
        const staged = this.#unstagedQueued === 0 && this.#options.executor.stage(spec);
        if (!staged) this.#unstagedQueued += 1;
        this.#tasks.set(
          effect.id,
          moveSessionTask(effect.id, task, { phase: "queued", kind: task.kind, spec, staged }),
        );
        return;
      }
      case "unqueued":
        this.#dropQueued(effect.id);
        this.#send({ t: "unqueued", id: effect.id });
        return;
      case "unqueueIgnored":
        this.#options.debug(`unqueue ${effect.id} ignored: ${effect.why}`);
        return;
      case "refuse":
        this.#dropQueued(effect.id);
        this.#sendFrame(errorFrame(this.#frameSettings(), effect.kind, effect.id, effect.error));
        return;
      case "duplicate":
        // The parent reused an id that is running: say so unattached, the task goes on.
        this.#send({ t: "error", id: null, code: "PROTOCOL", message: effect.message });
        return;
      case "answeredEarly": {
        const kind = this.#tasks.get(effect.id)?.kind ?? "call";
        this.#send(errorMessage(kind, effect.id, effect.error, true));
        return;
      }
      case "abort":
        this.#options.executor.abort(effect.id, effect.error);
        return;
      case "discard":
        this.#options.executor.discard(effect.id);
        return;
      case "terminate":
        if (!this.#options.executor.terminate(effect.id)) {
          this.#options.debug(`task ${effect.id} ignores its signal; inline mode cannot stop it`);
        }
        return;
      case "report": {
        const task = this.#tasks.get(effect.id);
        this.#tasks.delete(effect.id);
        if (effect.how === "ended") this.#send({ t: "ended", id: effect.id });
        else if (task?.phase === "settled") this.#sendFrame(task.frame);
        return;
      }
    }
  }

  /**
   * The link's part of leaving: `announce` is sent to the parent as `shutdown {reason}` first;
   * a clean exit closes the socket gracefully so answers already queued reach the parent.
   */
  hangUp(clean: boolean, reason: string, announce: string | null): Promise<void> {
    if (announce !== null) this.#send({ t: "shutdown", reason: announce });
    this.#heartbeat.stop();
    const { ws } = this.#link;
    if (!clean || ws.readyState !== ws.OPEN) {
      ws.terminate();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      // Give queued frames a bounded moment to flush, then go regardless.
      const bound = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1_000);
      ws.once("close", () => {
        clearTimeout(bound);
        resolve();
      });
      ws.close(1000, reason.slice(0, 120));
    });
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    this.#heartbeat.sawTraffic();
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.#send({ t: "error", id: null, code: "PROTOCOL", message: "frames must be binary" });
      return;
    }
    const decoded = decodeFrame(data, this.#options.codec, this.#descriptor.maxFrameBytes);
    if (!decoded.ok) {
      // The id only names a call when the frame was a request; otherwise report it unattached.
      const isRequest = decoded.t === "call" || decoded.t === "cast" || decoded.t === "child.start";
      this.#options.debug(`bad frame (${decoded.t ?? "?"} ${decoded.id}): ${decoded.message}`);
      this.#send({
        t: "error",
        id: isRequest ? decoded.id : null,
        code: decoded.code,
        message: decoded.message,
      });
      return;
    }
    const msg = decoded.msg;
    const { dispatch } = this.#options;
    switch (msg.t) {
      case "call":
      case "cast":
      case "child.start": {
        const kind: WorkKind = msg.t === "child.start" ? "child" : msg.t;
        if (!this.#functions.has(msg.fn)) {
          this.#sendFrame(
            errorFrame(this.#frameSettings(), kind, msg.id, {
              code: "UNKNOWN_FUNCTION",
              name: "FlameError",
              message: `runner ${this.#descriptor.runnerId} does not define "${msg.fn}"`,
            }),
          );
          return;
        }
        const timeoutMs = msg.t === "call" ? msg.timeoutMs : null;
        const on = msg.t === "call" ? msg.on : undefined;
        const onIndex = msg.t === "call" ? msg.onIndex : undefined;
        // A reused id keeps the running task's record; the machine reports the duplicate.
        if (!this.#tasks.has(msg.id)) {
          const spec = {
            id: msg.id,
            kind,
            fn: msg.fn,
            input: msg.args,
            // ctx.deadlineMs is an instant on this runner's own clock.
            deadlineMs: timeoutMs === null ? null : Date.now() + timeoutMs,
            traceparent: msg.traceparent,
            idempotencyKey: msg.idempotencyKey,
            attempt: msg.attempt,
            on,
            onIndex,
          };
          this.#tasks.set(msg.id, { phase: "received", kind, spec });
        }
        dispatch({ type: "work", id: msg.id, kind, timeoutMs, on });
        return;
      }
      case "release":
        this.#options.executor.release(msg.id, msg.index);
        return;
      case "cancel":
        dispatch({ type: "cancel", id: msg.id });
        return;
      case "unqueue":
        dispatch({ type: "unqueue", id: msg.id });
        return;
      case "child.stop":
        dispatch({ type: "stopChild", id: msg.id });
        return;
      case "shutdown":
        dispatch({
          type: "shutdown",
          reason: msg.reason,
          timeoutMs: "timeoutMs" in msg ? msg.timeoutMs : this.#descriptor.shutdownTimeoutMs,
        });
        return;
      default:
        this.#send({
          t: "error",
          id: null,
          code: "PROTOCOL",
          message: `a runner does not accept "${msg.t}" messages`,
        });
    }
  }

  #frameSettings() {
    return { codec: this.#options.codec, maxFrameBytes: this.#descriptor.maxFrameBytes };
  }

  #send(msg: AnyMessage): void {
    try {
      this.#sendFrame(encodeFrame(msg, this.#options.codec, this.#descriptor.maxFrameBytes));
    } catch (err) {
      this.#options.debug(`could not send ${msg.t}: ${(err as Error).message}`);
    }
  }

  #sendFrame(frame: Uint8Array): void {
    this.#batcher.send(frame);
  }
}
