/**
 * The parent's end of one runner link, after a valid hello: an event source. It sends call,
 * cast and child requests, hands the runner's answers to their `Reply` (pending.ts), and
 * reports two events to whoever `attach`es: its close (socket closed, errored, or silent past
 * the heartbeat bound) and the runner's announcement that it is leaving. It keeps no deadline
 * and passes no verdict on a call: the host's core owns both (its backstop for a runner that
 * never answers; RUNNER_DOWN for the calls of a link that closed).
 *
 * Hot path: one pending entry per request, frames corked per tick (SendBatcher). A runner is
 * not trusted with the parent's memory or time: answers are judged from their header before
 * any decoding, and large ones decoded in slices (answer-intake.ts).
 */
import type { RawData, WebSocket } from "ws";
import { FlameError } from "../errors.js";
import type { Codec } from "../protocol/codec.js";
import { decodeFrame, encodeFrame, encodeRequestFrame } from "../protocol/frame.js";
import { Heartbeat } from "../protocol/heartbeat.js";
import type { AnyMessage, ParentToRunner, RunnerToParent } from "../protocol/messages.js";
import { SendBatcher } from "../protocol/send-batcher.js";
import { fromWireError } from "../protocol/wire-error.js";
import { CLOSE_PROTOCOL, CLOSE_SHUTDOWN } from "../wire/close-codes.js";
import { AnswerIntake } from "./answer-intake.js";
import type { SliceQueue } from "./decode-slices.js";
import type { LinkLog } from "./log.js";
import { PendingRequests, type Reply, type WorkKind } from "./pending.js";
import { type RequestOptions, requestEnvelope, unknownFunction } from "./request.js";
import { SendBudget } from "./send-budget.js";

export interface RunnerConnectionOptions {
  readonly codec: Codec;
  readonly maxFrameBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Bytes queued in the socket past which a new request waits (see SendBudget). */
  readonly sendHighWaterBytes: number;
  /** Requests that may wait; one more fails OVERLOADED. */
  readonly maxQueuedSends: number;
  /** Bytes of answers the link may hold received and not yet decoded (answer-intake.ts). */
  readonly answerBudgetBytes: number;
  /** Where large answers are decoded, shared by the listener's links. */
  readonly slices: SliceQueue;
  readonly log: LinkLog;
}

/** What the link reports besides answers. Each is called synchronously, at most once. */
export interface LinkEvents {
  /**
   * The link is gone. Requests still pending get no answer from the link: the listener tells
   * the core, which fails them.
   */
  closed(reason: string): void;
  /** The runner announced it is leaving (single use done, failsafe, fatal error). */
  leaving(reason: string): void;
  /**
   * Tracked resource `index` of call `group` no longer exists on the runner (its dispose ran,
   * or it was lost with its thread). Returns false when nothing on this side held it: the
   * frame counts as one the parent had no use for (the link's dropped-frame allowance).
   */
  released(group: number, index: number, outcome: ReleasedOutcome): boolean;
}

/** How a tracked resource ended on the runner. */
export interface ReleasedOutcome {
  /** Its dispose threw (the value is gone all the same). */
  readonly error?: FlameError;
  /** Lost with its thread (a crash or a terminated thread): no dispose ran. */
  readonly lost: boolean;
}

/**
 * What `cancel` did: `withdrawn` — the request never left this process (nothing runs, nothing
 * will answer); `cancelled` — the runner was told to stop it, an answer or `ended` follows;
 * `unknown` — it is over already (or the link is closed).
 */
export type Cancelled = "withdrawn" | "cancelled" | "unknown";

type HelloMessage = Extract<RunnerToParent, { t: "hello" }>;

export class RunnerConnection {
  readonly runnerId: string;
  readonly functions: ReadonlySet<string>;
  /** Threads that run the runner's functions, from its hello (1 inline). */
  readonly threads: number;
  /** Resolves once the link is gone (the server uses it to forget the connection). */
  readonly closed: Promise<{ reason: string }>;

  private readonly ws: WebSocket;
  readonly #options: RunnerConnectionOptions;
  readonly #pending: PendingRequests;
  readonly #heartbeat: Heartbeat;
  readonly #batcher: SendBatcher;
  /** What this link may hold in memory (send-budget.ts). */
  private readonly budget: SendBudget;
  readonly #answers: AnswerIntake;
  #closeReason: string | null = null;
  #leavingReason: string | null = null;
  #events: LinkEvents | null = null;
  #resolveClosed: (v: { reason: string }) => void = () => {};

  /** @internal Created by RunnerServer after a valid hello. */
  constructor(ws: WebSocket, hello: HelloMessage, options: RunnerConnectionOptions) {
    this.ws = ws;
    this.#options = options;
    this.runnerId = hello.runnerId;
    this.functions = new Set(hello.functions);
    this.threads = hello.threads;
    this.#pending = new PendingRequests(hello.runnerId);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#batcher = new SendBatcher(ws);
    this.budget = new SendBudget(
      ws,
      this.#batcher,
      options.sendHighWaterBytes,
      options.maxQueuedSends,
    );
    this.#answers = new AnswerIntake({
      runnerId: hello.runnerId,
      pending: this.#pending,
      codec: options.codec,
      maxFrameBytes: options.maxFrameBytes,
      answerBudgetBytes: options.answerBudgetBytes,
      slices: options.slices,
      log: options.log,
      violation: (reason) => this.#violation(reason),
    });
    this.#heartbeat = new Heartbeat(
      ws,
      (silentMs) => this.terminate(`no heartbeat from runner for ${silentMs} ms`),
      options.heartbeatIntervalMs,
      options.heartbeatTimeoutMs,
    );
    ws.on("message", (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on("close", (code, reason) => {
      const text = reason.toString();
      this.#finish(text.length > 0 ? text : `link closed (code ${code})`);
    });
    ws.on("error", (err) => this.#finish(`link error: ${err.message}`));
  }

  /**
   * Where the link's close and the runner's announcement go. What happened before (the link
   * is handed over after its hello, a moment later) is reported at once.
   */
  attach(events: LinkEvents): void {
    this.#events = events;
    if (this.#leavingReason !== null) events.leaving(this.#leavingReason);
    if (this.#closeReason !== null) events.closed(this.#closeReason);
  }

  /** Bytes of the runner's answers received and still being decoded. */
  get heldAnswerBytes(): number {
    return this.#answers.heldBytes;
  }

  /** Requests whose work has not ended on the runner (calls, casts, children). */
  get inflight(): number {
    return this.#pending.size;
  }

  /**
   * Sends one call, cast or child request; its outcome goes to `reply` (a refusal — unknown
   * function, an input that can't be encoded, a full send budget — synchronously). Returns the
   * request id, or null when nothing was sent. On a closed link nothing is sent and nothing is
   * answered: the close was reported, and the core fails what it granted there.
   */
  request(
    kind: WorkKind,
    fn: string,
    args: unknown,
    opts: RequestOptions,
    reply: Reply,
  ): number | null {
    if (this.#closeReason !== null) return null;
    if (!this.functions.has(fn)) {
      reply.reject(unknownFunction(this.runnerId, fn, this.functions.size), false);
      return null;
    }
    const id = this.#pending.add(kind, fn, reply);
    let frame: Buffer;
    try {
      // The input is encoded straight into the frame (protocol/work-frame.ts).
      const timeoutMs = kind === "call" ? opts.timeoutMs : null;
      frame = encodeRequestFrame(
        requestEnvelope(kind, id, fn, timeoutMs, opts),
        args,
        this.#options.codec,
        this.#options.maxFrameBytes,
      );
    } catch (error) {
      this.#pending.forget(id);
      reply.reject(error, false);
      return null;
    }
    if (this.budget.offer(id, frame) === "full") {
      this.#pending.forget(id);
      reply.reject(this.#overloaded(fn), false);
      return null;
    }
    return id;
  }

  /** The caller gave up on request `id` (its signal, or the core's backstop). */
  cancel(id: number): Cancelled {
    if (this.#closeReason !== null || this.#pending.kindOf(id) === undefined) return "unknown";
    if (this.budget.withdraw(id)) {
      this.#pending.forget(id);
      return "withdrawn";
    }
    this.#sendQuietly({ t: "cancel", id });
    return "cancelled";
  }

  /**
   * Asks the runner to give back call or cast `id`, which it may hold queued behind its running
   * work (protocol 9): it answers `unqueued` (the reply hears `unqueued()`) when the work had
   * not started, or ignores the ask and answers as usual. A request still waiting in this
   * process (the send budget) is withdrawn and given back at once. Nothing is sent for a
   * request answered or unknown, a placed child, or on a closed link.
   */
  unqueue(id: number): void {
    if (this.#closeReason !== null || !this.#pending.askUnqueue(id)) return;
    if (this.budget.withdraw(id)) {
      this.#pending.unqueued(id);
      return;
    }
    this.#sendQuietly({ t: "unqueue", id });
  }

  /** Asks the runner to abort a placed child's ctx.signal (no-op once it ended). */
  stopChild(id: number): void {
    if (this.#pending.kindOf(id) === "child") this.#sendQuietly({ t: "child.stop", id });
  }

  /**
   * Lets go of tracked resource `index` of call `group`: the runner disposes it (after the
   * pinned call running on it, if any) and answers `released`.
   */
  release(group: number, index: number): void {
    this.#sendQuietly({ t: "release", id: group, index });
  }

  /** Ask the agent to stop taking work, let running calls finish for up to timeoutMs, then exit. */
  shutdown(reason: string, timeoutMs: number): void {
    this.#sendQuietly({ t: "shutdown", reason, timeoutMs });
  }

  /** Drop the link now; the close is reported like any other. */
  terminate(reason: string): void {
    if (this.#closeReason !== null) return;
    this.ws.terminate();
    this.#finish(reason);
  }

  /** @internal Used by RunnerServer to say welcome. */
  sendMessage(msg: ParentToRunner): void {
    this.#sendQuietly(msg);
  }

  #overloaded(fn: string): FlameError {
    return new FlameError(
      "OVERLOADED",
      `The link to runner ${this.runnerId} has ${this.ws.bufferedAmount} bytes unsent and ${this.budget.waitingCount} requests (${this.budget.heldBytes} bytes) waiting; "${fn}" was not sent. The runner or the network is slower than the callers: send less data per call, add runners, or raise link.sendHighWaterBytes / link.maxQueuedSends.`,
      { runnerId: this.runnerId },
    );
  }

  #sendQuietly(msg: AnyMessage): void {
    if (this.#closeReason !== null) return;
    try {
      this.#batcher.send(encodeFrame(msg, this.#options.codec, this.#options.maxFrameBytes));
    } catch (err) {
      this.#options.log("error", "could not send a control message", {
        runnerId: this.runnerId,
        t: msg.t,
        error: (err as Error).message,
      });
    }
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    if (this.#closeReason !== null) return;
    this.#heartbeat.sawTraffic();
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.#options.log("warn", "runner sent a non-binary frame; ignored", {
        runnerId: this.runnerId,
      });
      return;
    }
    // Judged from the header first: nothing is decoded that the parent has no use for.
    if (this.#answers.took(data)) return;
    const decoded = decodeFrame(data, this.#options.codec, this.#options.maxFrameBytes);
    if (decoded.ok) {
      this.#handle(decoded.msg);
      return;
    }
    this.#options.log("warn", "runner sent a frame that could not be used", {
      runnerId: this.runnerId,
      id: decoded.id,
      t: decoded.t,
      error: decoded.message,
    });
    // The runner answered, so its work is over whatever the bytes said.
    if (decoded.id !== null) {
      this.#pending.unusable(
        decoded.id,
        (fn) =>
          new FlameError(
            decoded.code,
            `The runner's answer to "${fn}" could not be read: ${decoded.message}.`,
            { runnerId: this.runnerId },
          ),
      );
    }
  }

  #handle(msg: AnyMessage): void {
    switch (msg.t) {
      case "result":
      case "child.exit":
      case "cast.done":
        this.#pending.answer(msg);
        return;
      case "ended":
        this.#pending.ended(msg.id);
        return;
      case "unqueued":
        this.#unqueued(msg.id);
        return;
      case "error":
        // About an answer being decoded: that answer, once read, says how the call ended.
        if (msg.id !== null && this.#pending.isDecoding(msg.id)) return;
        this.#options.log("warn", "runner reported a protocol error", {
          runnerId: this.runnerId,
          id: msg.id,
          code: msg.code,
          error: msg.message,
        });
        if (msg.id === null) return;
        this.#pending.unusable(
          msg.id,
          (fn) =>
            new FlameError(
              msg.code,
              `Runner ${this.runnerId} could not run "${fn}": ${msg.message}.`,
              {
                runnerId: this.runnerId,
              },
            ),
        );
        return;
      case "released": {
        const error =
          msg.error === undefined
            ? undefined
            : fromWireError(msg.error, `dispose of ${msg.id}/${msg.index}`, this.runnerId);
        const outcome = { lost: msg.lost === true, ...(error === undefined ? {} : { error }) };
        if (this.#events?.released(msg.id, msg.index, outcome) !== true) {
          this.#answers.drop(`a released for ${msg.id}/${msg.index}, which nothing holds`);
        }
        return;
      }
      case "shutdown":
        if (this.#leavingReason !== null) return;
        this.#leavingReason = msg.reason;
        this.#events?.leaving(msg.reason);
        return;
      default:
        this.#options.log("warn", `runner sent an unexpected "${msg.t}" message; ignored`, {
          runnerId: this.runnerId,
        });
    }
  }

  /** The runner gave request `id` back unstarted (protocol 9). */
  #unqueued(id: number): void {
    const outcome = this.#pending.unqueued(id);
    if (outcome === "givenBack") return;
    if (outcome === "notPending") {
      // Answered already, or never sent: nothing is lost by ignoring it, and a runner racing
      // its own answer is no reason to end a link every other call runs on.
      this.#options.log("debug", "runner gave back a request nothing waits for; ignored", {
        runnerId: this.runnerId,
        id,
      });
      return;
    }
    this.#options.log("warn", "runner gave back a request it was not asked for", {
      runnerId: this.runnerId,
      id,
    });
    this.#pending.unusable(
      id,
      (fn) =>
        new FlameError(
          "PROTOCOL",
          `Runner ${this.runnerId} gave back "${fn}" unstarted (\`unqueued\`) though it was not asked to, or after its answer had begun: it broke the protocol. Check that the runner agent and the parent run the same flame-ts version.`,
          { runnerId: this.runnerId },
        ),
    );
  }

  /** The runner broke the protocol: its link ends (the agent exits REFUSED on this code). */
  #violation(reason: string): void {
    if (this.#closeReason !== null) return;
    this.#options.log("warn", "runner link ended: protocol violation", {
      runnerId: this.runnerId,
      reason,
    });
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.close(CLOSE_PROTOCOL, "protocol violation");
    }
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#closeReason !== null) return;
    this.#closeReason = reason;
    this.#heartbeat.stop();
    this.budget.clear();
    this.#answers.close();
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(CLOSE_SHUTDOWN, "parent closed link");
    // Reported while `inflight` still says what was lost with the link (the host logs it).
    this.#events?.closed(reason);
    this.#pending.dropAll();
    this.#resolveClosed({ reason });
  }
}

export type { Reply, RequestOptions, WorkKind };
