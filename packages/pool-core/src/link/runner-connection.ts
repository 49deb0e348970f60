/**
 * The parent's end of one runner link, after a valid hello. Sends call/cast/child requests,
 * matches results by id, and fails every pending request with RUNNER_DOWN the moment the
 * link is lost (close, error, or heartbeat silence).
 *
 * Hot path: one Pending object per request (its own abort listener), one deadline timer per
 * connection (armed at the earliest backstop), frames corked per tick.
 */
import type { RawData, WebSocket } from "ws";
import { FlameError } from "../errors.js";
import type { Codec } from "../protocol/codec.js";
import { decodeFrame, encodeFrame, encodeRequestFrame, MAX_CALL_ID } from "../protocol/frame.js";
import { Heartbeat } from "../protocol/heartbeat.js";
import type { AnyMessage, ParentToRunner, RunnerToParent } from "../protocol/messages.js";
import { SendBatcher } from "../protocol/send-batcher.js";
import { type LongTimer, setLongTimeout } from "../protocol/timers.js";
import { fromWireError } from "../protocol/wire-error.js";
import type { WorkEnvelope } from "../protocol/work-frame.js";
import { CLOSE_SHUTDOWN } from "../wire/close-codes.js";
import type { LinkLog } from "./log.js";
import { Pending, type PendingOwner, type Reply, type WorkKind } from "./pending.js";
import { SendBudget } from "./send-budget.js";

export interface RunnerConnectionOptions {
  readonly codec: Codec;
  readonly maxFrameBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** How long after a call's deadline the parent stops waiting for the runner's TIMEOUT. */
  readonly deadlineGraceMs: number;
  /** Bytes queued in the socket past which a new request waits (see SendBudget). */
  readonly sendHighWaterBytes: number;
  /** Requests that may wait; one more fails OVERLOADED. */
  readonly maxQueuedSends: number;
  readonly log: LinkLog;
}

export interface RunnerInfo {
  readonly agentVersion: string;
  readonly pid: number;
  readonly host: string;
}

export interface CallOptions {
  /** How long the call may run from now, in ms; the runner aborts it then. null = no deadline. */
  readonly timeoutMs: number | null;
  readonly signal?: AbortSignal;
  readonly traceparent?: string;
}

/** What `request` needs besides the function and its input; absent fields are explicit. */
export interface RequestOptions {
  /** Ms the call may run from now (calls only; ignored for casts and children). null = none. */
  readonly timeoutMs: number | null;
  readonly signal: AbortSignal | undefined;
  readonly traceparent: string | undefined;
}

export interface PlacedChildHandle {
  readonly result: Promise<unknown>;
  stop(): void;
}

type HelloMessage = Extract<RunnerToParent, { t: "hello" }>;

export class RunnerConnection implements PendingOwner {
  readonly runnerId: string;
  readonly functions: ReadonlySet<string>;
  readonly info: RunnerInfo;
  readonly closed: Promise<{ reason: string }>;

  private readonly pending = new Map<number, Pending>();
  private readonly shutdownListeners: Array<(reason: string) => void> = [];
  private readonly heartbeat: Heartbeat;
  private readonly batcher: SendBatcher;
  private nextId = 1;
  private closeReason: string | null = null;
  private resolveClosed!: (v: { reason: string }) => void;
  private deadlineTimer: LongTimer | null = null;
  /** What this link may hold in memory (send-budget.ts). */
  private readonly budget: SendBudget;
  private deadlineTimerAtMs = Number.POSITIVE_INFINITY;

  /** @internal Created by RunnerServer after a valid hello. */
  constructor(
    private readonly ws: WebSocket,
    hello: HelloMessage,
    private readonly options: RunnerConnectionOptions,
  ) {
    this.runnerId = hello.runnerId;
    this.functions = new Set(hello.functions);
    this.info = { agentVersion: hello.agentVersion, pid: hello.pid, host: hello.host };
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.batcher = new SendBatcher(ws);
    this.budget = new SendBudget(
      ws,
      this.batcher,
      options.sendHighWaterBytes,
      options.maxQueuedSends,
    );
    this.heartbeat = new Heartbeat(
      ws,
      (silentMs) => this.terminate(`no heartbeat from runner for ${silentMs} ms`),
      options.heartbeatIntervalMs,
      options.heartbeatTimeoutMs,
    );
    ws.on("message", (data, isBinary) => this.onFrame(data, isBinary));
    ws.on("close", (code, reason) => {
      const text = reason.toString();
      this.finish(text.length > 0 ? text : `link closed (code ${code})`);
    });
    ws.on("error", (err) => this.finish(`link error: ${err.message}`));
  }

  /** Requests whose work has not ended on the runner (calls, casts, children). */
  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Sends one call, cast or child request; its outcome goes to `reply` exactly once (a refusal
   * or an encoding failure included, synchronously). Returns the request id, or null when
   * nothing was sent. The host's hot path: no promise, no closure.
   */
  request(
    kind: WorkKind,
    fn: string,
    args: unknown,
    opts: RequestOptions,
    reply: Reply,
  ): number | null {
    const refused = this.refuse(fn, opts.signal);
    if (refused !== null) {
      reply.reject(refused);
      return null;
    }
    const id = this.allocateId();
    const timeoutMs = kind === "call" ? opts.timeoutMs : null;
    let frame: Buffer;
    try {
      // The input is encoded straight into the frame (protocol/work-frame.ts).
      frame = encodeRequestFrame(
        requestEnvelope(kind, id, fn, timeoutMs, opts.traceparent),
        args,
        this.options.codec,
        this.options.maxFrameBytes,
      );
    } catch (error) {
      reply.reject(error);
      return null;
    }
    const backstop =
      timeoutMs === null ? null : performance.now() + timeoutMs + this.options.deadlineGraceMs;
    return this.dispatch(frame, new Pending(this, id, kind, fn, reply, backstop, opts.signal))
      ? id
      : null;
  }

  /** Asks the runner to abort a placed child's ctx.signal (no-op once it ended). */
  stopChild(id: number): void {
    if (this.pending.get(id)?.kind === "child") this.sendQuietly({ t: "child.stop", id });
  }

  /** `request("call")` as a promise (link-level callers and tests). */
  call(fn: string, args: unknown, opts: CallOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.request(
        "call",
        fn,
        args,
        {
          timeoutMs: opts.timeoutMs,
          signal: opts.signal,
          traceparent: opts.traceparent,
        },
        { resolve, reject: (error) => reject(error), released: () => {} },
      );
    });
  }

  /** `request("cast")` as a promise. */
  cast(fn: string, args: unknown, opts: { traceparent?: string } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.request(
        "cast",
        fn,
        args,
        { timeoutMs: null, signal: undefined, traceparent: opts.traceparent },
        { resolve: () => resolve(), reject: (error) => reject(error), released: () => {} },
      );
    });
  }

  /** `request("child")` as a promise plus its stop. */
  startChild(fn: string, args: unknown, opts: { traceparent?: string } = {}): PlacedChildHandle {
    let id: number | null = null;
    const result = new Promise<unknown>((resolve, reject) => {
      id = this.request(
        "child",
        fn,
        args,
        { timeoutMs: null, signal: undefined, traceparent: opts.traceparent },
        { resolve, reject: (error) => reject(error), released: () => {} },
      );
    });
    return {
      result,
      stop: () => {
        if (id !== null) this.stopChild(id);
      },
    };
  }

  /** Ask the agent to stop taking work, let running calls finish for up to timeoutMs, then exit. */
  shutdown(reason: string, timeoutMs: number): void {
    this.sendQuietly({ t: "shutdown", reason, timeoutMs });
  }

  onRunnerShutdown(listener: (reason: string) => void): void {
    this.shutdownListeners.push(listener);
  }

  /** Drop the link now; pending requests fail with RUNNER_DOWN. */
  terminate(reason: string): void {
    if (this.closeReason !== null) return;
    this.ws.terminate();
    this.finish(reason);
  }

  /**
   * @internal PendingOwner: the caller gave up (its signal, or the backstop). It is answered
   * now; the runner is told to cancel, and the slot stays taken until the work stopped.
   */
  abandon(pending: Pending, error: FlameError): void {
    if (this.pending.get(pending.id) !== pending || pending.answered) return;
    if (this.budget.withdraw(pending.id)) {
      // Never left this process: nothing runs, the slot is free now.
      this.pending.delete(pending.id);
      pending.reject(error, false);
      return;
    }
    this.sendQuietly({ t: "cancel", id: pending.id });
    pending.reject(error, true);
  }

  /** @internal Used by RunnerServer to say welcome. */
  sendMessage(msg: ParentToRunner): void {
    this.sendQuietly(msg);
  }

  private refuse(fn: string, signal: AbortSignal | undefined): FlameError | null {
    if (this.closeReason !== null) {
      return new FlameError(
        "RUNNER_DOWN",
        `Runner ${this.runnerId} is gone (${this.closeReason}); "${fn}" was not sent.`,
        { runnerId: this.runnerId },
      );
    }
    if (!this.functions.has(fn)) {
      return new FlameError(
        "UNKNOWN_FUNCTION",
        `Runner ${this.runnerId} does not define "${fn}" (it reported ${this.functions.size} functions). Make sure the runner's entry module imports the module that calls defineFunction("${fn}", ...), and that parent and runners run the same code version.`,
        { runnerId: this.runnerId },
      );
    }
    if (signal?.aborted) {
      return new FlameError("ABORTED", `Call to "${fn}" was aborted before it was sent.`, {
        cause: signal.reason,
        runnerId: this.runnerId,
      });
    }
    return null;
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = id >= MAX_CALL_ID ? 1 : id + 1;
    return id;
  }

  /** Register and send an encoded request. True when sent. */
  private dispatch(frame: Buffer, pending: Pending): boolean {
    if (pending.signal?.aborted) {
      pending.reject(new FlameError("ABORTED", `Call to "${pending.fn}" was aborted.`));
      return false;
    }
    if (this.budget.offer(pending.id, frame) === "full") {
      pending.reject(
        new FlameError(
          "OVERLOADED",
          `The link to runner ${this.runnerId} has ${this.ws.bufferedAmount} bytes unsent and ${this.budget.waitingCount} requests (${this.budget.heldBytes} bytes) waiting; "${pending.fn}" was not sent. The runner or the network is slower than the callers: send less data per call, add runners, or raise link.sendHighWaterBytes / link.maxQueuedSends.`,
          { runnerId: this.runnerId },
        ),
      );
      return false;
    }
    this.pending.set(pending.id, pending);
    if (pending.backstopAtMs !== null) this.armDeadline(pending.backstopAtMs);
    return true;
  }

  private sendQuietly(msg: AnyMessage): void {
    if (this.closeReason !== null) return;
    try {
      this.batcher.send(encodeFrame(msg, this.options.codec, this.options.maxFrameBytes));
    } catch (err) {
      this.options.log("error", "could not send a control message", {
        runnerId: this.runnerId,
        t: msg.t,
        error: (err as Error).message,
      });
    }
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    this.heartbeat.sawTraffic();
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.options.log("warn", "runner sent a non-binary frame; ignored", {
        runnerId: this.runnerId,
      });
      return;
    }
    const decoded = decodeFrame(data, this.options.codec, this.options.maxFrameBytes);
    if (!decoded.ok) {
      const pending = decoded.id === null ? undefined : this.pending.get(decoded.id);
      this.options.log("warn", "runner sent a frame that could not be used", {
        runnerId: this.runnerId,
        id: decoded.id,
        t: decoded.t,
        error: decoded.message,
      });
      if (pending !== undefined) {
        // The runner answered, so its work is over whatever the bytes said.
        this.pending.delete(pending.id);
        pending.reject(
          new FlameError(
            decoded.code,
            `The runner's answer to "${pending.fn}" could not be read: ${decoded.message}.`,
            { runnerId: this.runnerId },
          ),
        );
        pending.ended();
      }
      return;
    }
    this.handle(decoded.msg);
  }

  private handle(msg: AnyMessage): void {
    switch (msg.t) {
      case "result":
      case "child.exit":
      case "cast.done": {
        const pending = this.pending.get(msg.id);
        if (pending === undefined) return; // a late duplicate: nothing waits for it
        const answeredEarly = !msg.ok && msg.answeredEarly === true;
        if (!answeredEarly) this.pending.delete(msg.id);
        // Already answered (the caller gave up, or the backstop fired): only the end matters.
        if (msg.ok) pending.resolve(msg.t === "cast.done" ? undefined : msg.value);
        else if (msg.error !== undefined)
          pending.reject(fromWireError(msg.error, pending.fn, this.runnerId), answeredEarly);
        else pending.reject(new FlameError("REMOTE_ERROR", `"${pending.fn}" failed.`));
        if (!answeredEarly) pending.ended();
        return;
      }
      case "ended": {
        const pending = this.pending.get(msg.id);
        if (pending === undefined) return;
        this.pending.delete(msg.id);
        pending.ended();
        return;
      }
      case "error": {
        const pending = msg.id === null ? undefined : this.pending.get(msg.id);
        this.options.log("warn", "runner reported a protocol error", {
          runnerId: this.runnerId,
          id: msg.id,
          code: msg.code,
          error: msg.message,
        });
        if (pending === undefined) return;
        this.pending.delete(pending.id);
        pending.reject(
          new FlameError(
            msg.code,
            `Runner ${this.runnerId} could not run "${pending.fn}": ${msg.message}.`,
            { runnerId: this.runnerId },
          ),
        );
        pending.ended();
        return;
      }
      case "shutdown":
        for (const listener of this.shutdownListeners) listener(msg.reason);
        return;
      default:
        this.options.log("warn", `runner sent an unexpected "${msg.t}" message; ignored`, {
          runnerId: this.runnerId,
        });
    }
  }

  private armDeadline(atMs: number): void {
    if (atMs >= this.deadlineTimerAtMs) return;
    this.deadlineTimer?.clear();
    this.deadlineTimerAtMs = atMs;
    // Long-timeout safe: a 30-day call must not hit its backstop at once.
    this.deadlineTimer = setLongTimeout(() => this.onDeadline(), atMs - performance.now(), {
      unref: true,
    });
  }

  /** The runner should have reported TIMEOUT by now; fail what is overdue and re-arm. */
  private onDeadline(): void {
    this.deadlineTimer = null;
    this.deadlineTimerAtMs = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const pending of this.pending.values()) {
      const at = pending.backstopAtMs;
      if (at === null || pending.answered) continue;
      if (at <= now) {
        this.abandon(
          pending,
          new FlameError(
            "TIMEOUT",
            `"${pending.fn}" passed its deadline and runner ${this.runnerId} did not answer within ${this.options.deadlineGraceMs} ms after it.`,
            { runnerId: this.runnerId },
          ),
        );
      } else if (at < next) next = at;
    }
    if (next !== Number.POSITIVE_INFINITY) this.armDeadline(next);
  }

  private finish(reason: string): void {
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    this.heartbeat.stop();
    this.deadlineTimer?.clear();
    this.deadlineTimer = null;
    this.budget.clear();
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const pending of failed) {
      pending.reject(
        new FlameError(
          "RUNNER_DOWN",
          `Runner ${this.runnerId} went away while running "${pending.fn}" (${reason}).`,
          { runnerId: this.runnerId },
        ),
      );
      pending.ended();
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(CLOSE_SHUTDOWN, "parent closed link");
    this.resolveClosed({ reason });
  }
}

export type { Reply, WorkKind };

/** The wire message for a request; `traceparent` only when there is a trace to continue. */
function requestEnvelope(
  kind: WorkKind,
  id: number,
  fn: string,
  timeoutMs: number | null,
  traceparent: string | undefined,
): WorkEnvelope {
  return { t: kind === "child" ? "child.start" : kind, id, fn, timeoutMs, traceparent };
}
