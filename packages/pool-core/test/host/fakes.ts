/**
 * Virtual time and an in-memory runner link + backend, so the Pool host runs its whole
 * lifecycle in a unit test without processes, sockets or real timers.
 */
import type { Backend, BootedRunner, BootRequest, RunnerExit } from "../../src/backend.js";
import { FlameError } from "../../src/errors.js";
import type {
  Cancelled,
  LinkConnection,
  LinkEvents,
  LinkServer,
  ListenLink,
  ReleasedOutcome,
  Reply,
  RequestOptions,
  WorkKind,
} from "../../src/host/link-port.js";
import type { Clock } from "../../src/options/index.js";

interface VirtualTimer {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Let pending promise callbacks run (they may arm more timers). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
  #now = 1_000_000;
  #seq = 0;
  readonly #timers = new Set<VirtualTimer>();

  nowMs(): number {
    return this.#now;
  }
  /** Timers set so far (each `setTimer` is a real timer on the real clock). */
  get timersSet(): number {
    return this.#seq;
  }
  setTimer(atMs: number, fn: () => void): unknown {
    const timer = { atMs, seq: ++this.#seq, fn };
    this.#timers.add(timer);
    return timer;
  }
  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as VirtualTimer);
  }
  /** Fires every timer due up to `now + ms`, in time order, flushing promises in between. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      const due = [...this.#timers]
        .filter((t) => t.atMs <= target)
        .sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers.delete(due);
      this.#now = Math.max(this.#now, due.atMs);
      due.fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }
}

export interface CallOpts {
  readonly timeoutMs: number | null;
  readonly signal?: AbortSignal;
  /** The request's id on its link (the `group` of what it tracks). */
  readonly id?: number;
  /** Pinned: the group it was sent to. */
  readonly on?: number | undefined;
}

export type CallHandler = (fn: string, args: unknown, opts: CallOpts) => Promise<unknown>;

/** What a handler returns for an ok answer whose value holds tracked references. */
export class TrackedAnswer {
  constructor(readonly value: unknown) {}
}

export class FakeConnection implements LinkConnection {
  readonly runnerId: string;
  readonly threads = 1;
  inflight = 0;
  /** Resolves with the close reason (what the host hears through `attach`). */
  readonly closed: Promise<{ reason: string }>;
  shutdownReason: string | null = null;
  /** Requests the host cancelled (its caller's signal, or the core's backstop). */
  readonly cancelled: number[] = [];
  /** Every request the host made, sent or not. */
  requests = 0;
  /** Every call sent: what it carried and where it was pinned. */
  readonly sent: Array<{
    id: number;
    fn: string;
    args: unknown;
    on: number | undefined;
    idempotencyKey: string | undefined;
    attempt: number | undefined;
  }> = [];
  /** Every request the host asked back (`unqueue`). */
  readonly unqueues: number[] = [];
  /** Every `release` the host sent. */
  readonly releases: Array<{ group: number; index: number }> = [];
  /** Answer each `release` with `released` (on the next turn, as a runner would). */
  answerReleases = true;
  #close: (value: { reason: string }) => void = () => {};
  #closeReason: string | null = null;
  #events: LinkEvents | null = null;
  readonly #handler: () => CallHandler;
  /** Per request: aborts what the handler runs (a cancel, or a placed child's stop). */
  readonly #running = new Map<number, AbortController>();
  /** Per request still running: where its outcome goes (for `giveBack`). */
  readonly #replies = new Map<number, Reply>();
  #nextRequestId = 0;

  constructor(runnerId: string, handler: () => CallHandler) {
    this.runnerId = runnerId;
    this.#handler = handler;
    this.closed = new Promise((resolve) => {
      this.#close = resolve;
    });
  }
  attach(events: LinkEvents): void {
    this.#events = events;
    if (this.#closeReason !== null) events.closed(this.#closeReason);
  }
  request(
    kind: WorkKind,
    fn: string,
    args: unknown,
    opts: RequestOptions,
    reply: Reply,
  ): number | null {
    this.requests += 1;
    if (this.#closeReason !== null) return null; // as the real link: the close was reported
    const id = ++this.#nextRequestId;
    const controller = new AbortController();
    this.#running.set(id, controller);
    this.inflight += 1;
    const handler = this.#handler();
    const callOpts = {
      timeoutMs: kind === "call" ? opts.timeoutMs : null,
      signal: controller.signal,
      id,
      on: opts.on,
    };
    this.#replies.set(id, reply);
    if (kind === "call") {
      const { idempotencyKey, attempt } = opts;
      this.sent.push({ id, fn, args, on: opts.on, idempotencyKey, attempt });
    }
    new Promise((resolve) => resolve(handler(fn, args, callOpts))).then(
      (value) => {
        if (!this.#ended(id)) return;
        if (value instanceof TrackedAnswer) reply.resolve(value.value, true);
        else reply.resolve(value);
      },
      (error: unknown) => {
        if (this.#ended(id)) reply.reject(error, false);
      },
    );
    return id;
  }
  cancel(requestId: number): Cancelled {
    const controller = this.#running.get(requestId);
    if (controller === undefined || this.#closeReason !== null) return "unknown";
    this.cancelled.push(requestId);
    controller.abort();
    return "cancelled";
  }
  unqueue(requestId: number): void {
    if (this.#closeReason === null && this.#running.has(requestId)) this.unqueues.push(requestId);
  }
  /**
   * The runner's `unqueued`: it gives request `requestId` back unstarted. What the handler was
   * doing with it is dropped (its outcome reaches nobody), as the real link drops the request.
   */
  giveBack(requestId: number): void {
    const reply = this.#replies.get(requestId);
    if (reply === undefined || !this.#ended(requestId)) return;
    reply.unqueued();
  }
  stopChild(requestId: number): void {
    this.#running.get(requestId)?.abort();
  }
  release(group: number, index: number): void {
    if (this.#closeReason !== null) return;
    this.releases.push({ group, index });
    if (this.answerReleases) setImmediate(() => this.released(group, index));
  }
  /** The runner's `released` frame; returns what the host said (false: nothing held it). */
  released(group: number, index: number, outcome: Partial<ReleasedOutcome> = {}): boolean {
    if (this.#closeReason !== null) return false;
    return this.#events?.released(group, index, { lost: false, ...outcome }) ?? false;
  }
  /** False once the link closed: a closed link answers nothing. */
  #ended(id: number): boolean {
    this.#replies.delete(id);
    if (!this.#running.delete(id)) return false;
    this.inflight -= 1;
    return this.#closeReason === null;
  }
  shutdown(reason: string): void {
    this.shutdownReason = reason;
  }
  /** The runner announces it is leaving (as the agent's `shutdown {reason}`). */
  announceLeaving(reason: string): void {
    this.#events?.leaving(reason);
  }
  /** The socket is wedged: closing it from our side is never confirmed. */
  wedged = false;
  terminate(reason: string): void {
    if (this.wedged || this.#closeReason !== null) return;
    this.#closeReason = reason;
    this.#running.clear();
    this.#replies.clear();
    this.inflight = 0;
    this.#events?.closed(reason);
    this.#close({ reason });
  }
}

/** A runner as the fake backend sees it. */
export class FakeRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly req: BootRequest;
  conn: FakeConnection | null = null;
  stopped = false;
  /** A hung backend: stop() never returns and the exit is never reported. */
  frozen = false;
  #exit: (exit: RunnerExit) => void = () => {};

  constructor(req: BootRequest, index: number) {
    this.req = req;
    this.meta = { fake: String(index) };
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.frozen) return new Promise<void>(() => {});
    this.crash("stopped");
    await this.exited;
  }
  /** The runner dies: its process exits, then the OS closes its socket and its link drops. */
  crash(reason = "crashed", code: number | null = 1): void {
    this.#exit({ code, reason });
    void this.exited.then(() => this.conn?.terminate(reason));
  }
}

/**
 * Boots fake runners that "say hello" `bootMs` later on the virtual clock. `failNext` makes
 * the next boots fail; `hangNext` makes them never say hello.
 */
export class FakeWorld implements Backend {
  readonly name = "fake";
  bootMs = 100;
  failNext = 0;
  /** What the next failing boots throw (default: a transient "no capacity"). */
  failWith: Error = new Error("no capacity");
  hangNext = 0;
  /** The next runners' links close right after their hello, before the pool takes them in. */
  closeAfterHelloNext = 0;
  /** The next boots start a runner that exits with this before saying hello. */
  exitBeforeHello: { code: number; reason: string } | null = null;
  /** New runners' backends hang on stop (see FakeRunner.frozen). */
  freezeRunners = false;
  handler: CallHandler = async (_fn, args) => args;
  readonly runners: FakeRunner[] = [];
  readonly clock: VirtualClock;
  readonly #expectations = new Map<
    string,
    { resolve: (conn: LinkConnection) => void; token: string }
  >();

  constructor(clock: VirtualClock) {
    this.clock = clock;
  }

  readonly listen: ListenLink = async (): Promise<LinkServer> => ({
    url: "ws://127.0.0.1:1/fake",
    expect: (runnerId, token, signal) =>
      new Promise((resolve, reject) => {
        this.#expectations.set(runnerId, { resolve, token });
        signal.addEventListener("abort", () => {
          this.#expectations.delete(runnerId);
          reject(signal.reason);
        });
      }),
    close: async () => {},
  });

  async boot(req: BootRequest): Promise<BootedRunner> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw this.failWith;
    }
    const runner = new FakeRunner(req, this.runners.length);
    runner.frozen = this.freezeRunners;
    this.runners.push(runner);
    const early = this.exitBeforeHello;
    if (early !== null) {
      this.clock.setTimer(this.clock.nowMs() + this.bootMs / 2, () =>
        runner.crash(early.reason, early.code),
      );
      return runner;
    }
    if (this.hangNext > 0) {
      this.hangNext -= 1;
      return runner;
    }
    this.clock.setTimer(this.clock.nowMs() + this.bootMs, () => {
      const expectation = this.#expectations.get(req.runnerId);
      if (expectation === undefined || runner.stopped) return;
      const conn = new FakeConnection(req.runnerId, () => this.handler);
      runner.conn = conn;
      expectation.resolve(conn);
      if (this.closeAfterHelloNext > 0) {
        this.closeAfterHelloNext -= 1;
        conn.terminate("reset right after hello");
      }
    });
    return runner;
  }

  live(): FakeRunner[] {
    return this.runners.filter((r) => !r.stopped && r.conn !== null);
  }
}

/** A call handler whose calls finish when the test says so. */
export class ControlledCalls {
  readonly pending: Array<{
    args: unknown;
    opts: { timeoutMs: number | null; signal?: AbortSignal };
    resolve: (v: unknown) => void;
  }> = [];
  readonly handler: CallHandler = (_fn, args, opts) =>
    new Promise((resolve, reject) => {
      this.pending.push({ args, opts, resolve });
      opts.signal?.addEventListener("abort", () =>
        reject(new FlameError("ABORTED", "aborted by the caller")),
      );
    });
}
