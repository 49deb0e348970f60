/**
 * One welcomed link, driven by the pure lifecycle machine (lifecycle/machine.ts): frames from
 * the parent become machine events, the machine's effects become executor calls and frames.
 * It owns the one real timer (armed at the machine's next deadline) and the heartbeat.
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
  type LongTimer,
  type ParentDescriptor,
  SendBatcher,
  setLongTimeout,
  type WireError,
} from "@flame-ts/pool-core/protocol";
import type { RawData } from "ws";
import type { WelcomedLink } from "./dial.js";
import { errorFrame, errorMessage } from "./executor/answer.js";
import type { Executor, ExecutorSink, SinkRelay, TaskSpec } from "./executor/executor.js";
import { type AgentExit, EXIT } from "./exit-codes.js";
import {
  type AgentEffect,
  type AgentEvent,
  type AgentState,
  initialAgentState,
  nextDeadline,
  step,
  type WorkKind,
} from "./lifecycle/machine.js";

export interface SessionOptions {
  readonly descriptor: ParentDescriptor;
  readonly codec: Codec;
  readonly executor: Executor;
  /** Where the executor reports; the session attaches itself before taking any frame. */
  readonly sink: SinkRelay;
  readonly debug: (msg: string) => void;
}

export class Session implements ExecutorSink {
  readonly ended: Promise<AgentExit>;
  private resolveEnded!: (exit: AgentExit) => void;
  private readonly state: AgentState;
  private readonly heartbeat: Heartbeat;
  /** Answers finished in one tick leave in one write. */
  private readonly batcher: SendBatcher;
  private readonly descriptor: ParentDescriptor;
  private readonly executor: Executor;
  private readonly functions: ReadonlySet<string>;
  /** Work received, waiting for the machine's `run`. */
  private readonly specs = new Map<number, TaskSpec>();
  private readonly kinds = new Map<number, WorkKind>();
  /** Answers from the executor, waiting for the machine's `report`. */
  private readonly outcomes = new Map<number, Uint8Array>();
  private readonly mailbox: AgentEvent[] = [];
  private busy = false;
  private timer: LongTimer | null = null;
  private timerAtMs: number | null = null;

  constructor(
    private readonly link: WelcomedLink,
    private readonly options: SessionOptions,
  ) {
    this.descriptor = options.descriptor;
    this.executor = options.executor;
    // Frames buffered since the welcome are handed over below, and an inline executor answers
    // synchronously: outcomes must reach this session from the first one on.
    options.sink.target = this;
    this.functions = new Set(options.executor.functions);
    this.state = initialAgentState({
      idleShutdownAfterMs: this.descriptor.idleShutdownAfterMs,
      singleUse: this.descriptor.singleUse,
      terminateGraceMs: this.descriptor.execution.terminateGraceMs,
    });
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    const { ws } = link;
    this.batcher = new SendBatcher(ws);
    this.heartbeat = new Heartbeat(
      ws,
      (silentMs) => {
        ws.terminate();
        this.dispatch({ type: "linkLost", reason: `no heartbeat for ${silentMs} ms` });
      },
      this.descriptor.heartbeatIntervalMs,
      this.descriptor.heartbeatTimeoutMs,
    );
    ws.on("close", (code, reason) => {
      const why = reason.toString() || `code ${code}`;
      this.dispatch({ type: "linkLost", reason: `closed (${why})` });
    });
    ws.on("error", (err) => this.dispatch({ type: "linkLost", reason: err.message }));
    link.takeFrames((data, isBinary) => this.onFrame(data, isBinary));
    this.dispatch({ type: "start" });
  }

  /** Leave on our own initiative (SIGTERM, ...): tell the parent, stop everything. */
  stop(reason: string): void {
    this.dispatch({ type: "stop", reason });
  }

  /** ExecutorSink: a function settled with this answer frame. */
  outcome(id: number, frame: Uint8Array): void {
    this.outcomes.set(id, frame);
    this.dispatch({ type: "taskEnded", id });
  }

  /** ExecutorSink: the work stopped with no answer of its own (thread died or terminated). */
  lost(id: number, error: WireError): void {
    const kind = this.kinds.get(id);
    if (kind !== undefined)
      this.outcomes.set(id, errorFrame(this.frameSettings(), kind, id, error));
    this.dispatch({ type: "taskEnded", id });
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
      case "child.start": {
        const kind: WorkKind = msg.t === "child.start" ? "child" : msg.t;
        if (!this.functions.has(msg.fn)) {
          this.sendFrame(
            errorFrame(this.frameSettings(), kind, msg.id, {
              code: "UNKNOWN_FUNCTION",
              name: "FlameError",
              message: `runner ${this.descriptor.runnerId} does not define "${msg.fn}"`,
            }),
          );
          return;
        }
        const timeoutMs = msg.t === "call" ? msg.timeoutMs : null;
        if (!this.kinds.has(msg.id)) {
          this.kinds.set(msg.id, kind);
          this.specs.set(msg.id, {
            id: msg.id,
            kind,
            fn: msg.fn,
            input: msg.args,
            // ctx.deadlineMs is an instant on this runner's own clock.
            deadlineMs: timeoutMs === null ? null : Date.now() + timeoutMs,
            traceparent: msg.traceparent,
          });
        }
        this.dispatch({ type: "work", id: msg.id, kind, timeoutMs });
        return;
      }
      case "cancel":
        this.dispatch({ type: "cancel", id: msg.id });
        return;
      case "child.stop":
        this.dispatch({ type: "stopChild", id: msg.id });
        return;
      case "shutdown":
        this.dispatch({
          type: "shutdown",
          reason: msg.reason,
          timeoutMs: "timeoutMs" in msg ? msg.timeoutMs : this.descriptor.shutdownTimeoutMs,
        });
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

  /** Feeds the machine one event at a time; events raised while carrying out effects queue. */
  private dispatch(event: AgentEvent): void {
    this.mailbox.push(event);
    if (this.busy) return;
    this.busy = true;
    try {
      for (let next = this.mailbox.shift(); next !== undefined; next = this.mailbox.shift()) {
        const { effects } = step(this.state, next, performance.now());
        for (const effect of effects) this.carry(effect);
      }
    } finally {
      this.busy = false;
    }
    this.rearm();
  }

  private carry(effect: AgentEffect): void {
    switch (effect.type) {
      case "run": {
        const spec = this.specs.get(effect.id);
        this.specs.delete(effect.id);
        if (spec !== undefined) this.executor.run(spec);
        return;
      }
      case "refuse": {
        this.specs.delete(effect.id);
        if (this.state.tasks.has(effect.id)) {
          // A duplicate id of a task that is running: report it unattached, keep the task.
          this.send({ t: "error", id: null, code: "PROTOCOL", message: effect.error.message });
          return;
        }
        this.kinds.delete(effect.id);
        this.sendFrame(errorFrame(this.frameSettings(), effect.kind, effect.id, effect.error));
        return;
      }
      case "answerEarly": {
        const kind = this.kinds.get(effect.id) ?? "call";
        this.send(errorMessage(kind, effect.id, effect.error, true));
        return;
      }
      case "abort":
        this.executor.abort(effect.id, effect.error);
        return;
      case "terminate":
        if (!this.executor.terminate(effect.id)) {
          this.options.debug(`task ${effect.id} ignores its signal; inline mode cannot stop it`);
        }
        return;
      case "report": {
        const frame = this.outcomes.get(effect.id);
        this.outcomes.delete(effect.id);
        this.kinds.delete(effect.id);
        if (effect.how === "ended") this.send({ t: "ended", id: effect.id });
        else if (frame !== undefined) this.sendFrame(frame);
        return;
      }
      case "leave":
        this.leave(effect.exit === "OK" ? EXIT.OK : EXIT.LINK_LOST, effect.reason, effect.announce);
        return;
    }
  }

  private rearm(): void {
    const at = nextDeadline(this.state);
    if (at === this.timerAtMs) return;
    this.timer?.clear();
    this.timer = null;
    this.timerAtMs = at;
    if (at !== null) {
      // Long-timeout safe: a deadline 30 days out must not tick (and spin) at once.
      this.timer = setLongTimeout(() => {
        this.timer = null;
        this.timerAtMs = null;
        this.dispatch({ type: "tick" });
      }, at - performance.now());
    }
  }

  private frameSettings() {
    return { codec: this.options.codec, maxFrameBytes: this.descriptor.maxFrameBytes };
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
  private leave(code: AgentExit["code"], reason: string, announce: string | null): void {
    if (announce !== null) this.send({ t: "shutdown", reason: announce });
    this.heartbeat.stop();
    this.timer?.clear();
    this.timer = null;
    const closed = this.executor.close().catch(() => {});
    const { ws } = this.link;
    const finish = () => void closed.then(() => this.resolveEnded({ code, reason }));
    if (code !== EXIT.OK || ws.readyState !== ws.OPEN) {
      ws.terminate();
      finish();
      return;
    }
    // Give queued frames a bounded moment to flush, then go regardless.
    const bound = setTimeout(() => {
      ws.terminate();
      finish();
    }, 1_000);
    ws.once("close", () => {
      clearTimeout(bound);
      finish();
    });
    ws.close(1000, reason.slice(0, 120));
  }
}
