/**
 * The Pool host: owns the pure core's state, feeds it one event at a time, and carries out
 * its effects with real I/O (backend boots, the runner link, timers, telemetry).
 *
 * Rules that keep it simple to reason about:
 * - `#dispatch` is the only caller of `step`. Events raised while effects are carried out are
 *   queued and processed after, never re-entrantly.
 * - One real timer, re-armed at `nextDeadline` after every batch of events.
 * - A call/cast/child is one `Checkout` record from `pool.call` to its outcome. It starts on
 *   a runner in `#startWork` and ends in `#settle` (or `#failWaiting` when it never got a
 *   slot): telemetry and `callFinished` live there. One promise per call, the caller's.
 *
 * Timeout rule (FLAME #73), see README "Timeouts": a call's `timeout` spans waiting for a
 * slot plus running. Exception, the cold pool: when the caller has to queue while a runner is
 * booting, it may wait up to max(timeout, bootTimeout) for that slot, and once granted it
 * gets its full `timeout` to run. A caller that queues behind busy runners (no boot in flight)
 * keeps the plain rule.
 */
import type { Backend, BootedRunner } from "../backend.js";
import {
  type CoreConfig,
  type CoreError,
  type PoolEvent as CoreEvent,
  type CoreTelemetryEvent,
  snapshot as coreSnapshot,
  type Effect,
  initialState,
  nextDeadline,
  type PoolState,
  step,
} from "../core/index.js";
import { FlameError, isFlameError } from "../errors.js";
import type { FlameFunction } from "../functions.js";
import {
  type Clock,
  type PoolOptions,
  type ResolvedOptions,
  resolveLimits,
  resolveOptions,
} from "../options.js";
import { encodeParentDescriptor } from "../protocol/descriptor.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import { generateToken } from "../protocol/token.js";
import {
  type ControlAction,
  type PoolEventBody,
  PoolEventStream,
  type PoolEvents,
  type PoolSnapshot,
  type RunnerSnapshot,
} from "../telemetry/events.js";
import { type InternalSpan, startCallSpan, startShutdownSpan } from "../telemetry/spans.js";
import { Checkout, type CheckoutOwner } from "./checkout.js";
import { newRunnerId, parentId } from "./ids.js";
import type {
  LinkConnection,
  LinkServer,
  ListenLink,
  RequestOptions,
  WorkKind,
} from "./link-port.js";
import { listenRunnerServer } from "./runner-link.js";

export interface CallOptions {
  /** Milliseconds for waiting plus running; defaults to the pool's `timeout`. Infinity = none. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

/** Who takes an operator action, recorded in the `control` event (e.g. "dashboard"). */
export interface ActionOptions {
  readonly by?: string;
}

export interface PlacedChild<O> {
  readonly runnerId: string;
  /** Settles when the child ends (its value, REMOTE_ERROR, or RUNNER_DOWN). */
  readonly result: Promise<O>;
  /** Aborts the child's ctx.signal and resolves once it has ended. */
  stop(): Promise<void>;
}

/** Internal seams for tests: an in-memory link and a fake environment. */
export interface PoolInternals {
  readonly listen?: ListenLink;
  readonly env?: NodeJS.ProcessEnv;
}

interface BootEntry {
  readonly bootId: string;
  readonly runnerId: string;
  readonly isMin: boolean;
  readonly startedAtMs: number;
  readonly abort: AbortController;
  /** Backend meta, known once the backend started the runner (before its hello). */
  meta: Readonly<Record<string, string>>;
  /** Resolves with null once up, or with the failure message. */
  readonly outcome: Promise<string | null>;
  settle: (error: string | null) => void;
}

interface RunnerEntry {
  readonly id: string;
  readonly conn: LinkConnection;
  readonly booted: BootedRunner;
  readonly meta: Readonly<Record<string, string>>;
  readonly isMin: boolean;
  down: boolean;
  killTimer: unknown;
  /** Open from the pool's shutdown request until the runner is gone (`flame.shutdown`). */
  shutdownSpan: InternalSpan | null;
  /** The drain bound passed and the backend was told to kill it. */
  killed: boolean;
  /** Resolves once the backend reports the runner gone. */
  readonly exited: Promise<void>;
}

const BOOT_RETRY_DELAY_MS = 1_000;

export class Pool {
  readonly name: string;
  readonly #o: ResolvedOptions;
  readonly #clock: Clock;
  readonly #backend: Backend;
  readonly #listen: ListenLink;
  readonly #insideRunner: boolean;
  readonly #stream: PoolEventStream;
  readonly #state: PoolState;

  readonly #queue: CoreEvent[] = [];
  #busy = false;
  /** The clock reading of the batch `#dispatch` is processing. */
  #batchNowMs = 0;
  #timer: unknown = null;
  #timerAtMs: number | null = null;
  #justQueued: Checkout[] = [];

  #server: Promise<LinkServer> | null = null;
  #coreStarted = false;
  #startPromise: Promise<void> | null = null;
  #stopPromise: Promise<void> | null = null;
  #stopped = false;

  #nextCheckout = 0;
  readonly #owner: CheckoutOwner = {
    settle: (c, ok, valueOrError, stillRunning) => this.#settle(c, ok, valueOrError, stillRunning),
    released: (c) => this.#released(c),
    abortWaiting: (c) => this.#abortWaiting(c),
  };
  readonly #checkouts = new Map<string, Checkout>();
  readonly #boots = new Map<string, BootEntry>();
  readonly #bootStartedAt = new Map<string, number>();
  readonly #runners = new Map<string, RunnerEntry>();
  readonly #exits = new Set<Promise<void>>();
  readonly #bootTasks = new Set<Promise<void>>();

  constructor(options: PoolOptions, internals: PoolInternals = {}) {
    const env = internals.env ?? process.env;
    this.#o = resolveOptions(options, env);
    this.#insideRunner = typeof env.FLAME_PARENT === "string" && env.FLAME_PARENT.length > 0;
    this.name = this.#o.name;
    this.#clock = this.#o.clock;
    this.#backend = this.#o.backend;
    this.#listen = internals.listen ?? listenRunnerServer;
    const config: CoreConfig = {
      name: this.#o.name,
      min: this.#o.min,
      max: this.#o.max,
      maxConcurrency: this.#o.maxConcurrency,
      idleShutdownAfterMs: this.#o.idleShutdownAfterMs,
      minIdleShutdownAfterMs: this.#o.minIdleShutdownAfterMs,
      hasIdleCheck: this.#o.idleCheck !== null,
      singleUse: this.#o.singleUse,
      bootRetryDelayMs: BOOT_RETRY_DELAY_MS,
    };
    this.#state = initialState(config);
    this.#stream = new PoolEventStream({
      pool: this.name,
      snapshot: () => this.snapshot(),
      nowMs: () => this.#clock.nowMs(),
      onListenerError: (error) =>
        this.#o.log("warn", "a pool.events listener threw", { error: String(error) }),
    });
  }

  /** Typed, sequence-numbered events (growStart, runnerUp, callFinished, …). */
  get events(): PoolEvents {
    return this.#stream;
  }

  /** Starts listening for runners and boots `min` of them; rejects BOOT_FAILED if one can't boot. */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(stoppedError(this.name));
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    await this.#serverReady();
    const minBoots = this.#ensureCoreStarted();
    const failures = (await Promise.all(minBoots.map((b) => b.outcome))).filter(
      (error): error is string => error !== null,
    );
    if (failures.length > 0) {
      throw new FlameError(
        "BOOT_FAILED",
        `Pool "${this.name}" could not boot its ${this.#o.min} min runner(s): ${failures[0]}. Check the backend and the runner entry; the pool keeps retrying until stop().`,
      );
    }
  }

  /** Runs `fn(input)` on a runner and returns its result. See README "Timeouts". */
  call<I, O>(fn: FlameFunction<I, O>, input: I, options: CallOptions = {}): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const fnId = functionId(fn);
      const timeoutMs = callTimeout(options.timeout, this.#o.timeoutMs);
      this.#checkout("call", fnId, input, timeoutMs, options.signal, resolve as Settle, reject);
    });
  }

  /** Fire and forget: waits up to bootTimeout for a slot; failures go to telemetry and the log. */
  cast<I, O>(fn: FlameFunction<I, O>, input: I): void {
    const fnId = functionId(fn);
    this.#checkout("cast", fnId, input, this.#o.bootTimeoutMs, undefined, ignore, (error) =>
      this.#o.log("warn", `cast of "${fnId}" failed`, { error: String(error) }),
    );
  }

  /** Starts a long-lived `fn(input)` on a runner; it holds one slot until it ends. */
  placeChild<I, O>(
    fn: FlameFunction<I, O>,
    input: I,
    options: CallOptions = {},
  ): Promise<PlacedChild<O>> {
    return new Promise<PlacedChild<O>>((resolve, reject) => {
      const fnId = functionId(fn);
      const timeoutMs = callTimeout(options.timeout, this.#o.timeoutMs);
      this.#checkout("child", fnId, input, timeoutMs, options.signal, resolve as Settle, reject);
    });
  }

  /** Changes min/max at runtime: boots up to the new min, drains surplus idle runners first. */
  resize(limits: { min: number; max: number }, action: ActionOptions = {}): void {
    const { min, max } = resolveLimits(limits, this.#insideRunner);
    if (this.#stopped) throw stoppedError(this.name);
    if (action.by !== undefined) {
      this.#control("resize", this.name, action, true, `min ${min}, max ${max}`);
    }
    this.#dispatch({ type: "resize", min, max });
  }

  /**
   * Asks one runner to leave gracefully: it takes no new work, finishes what it runs (up to
   * `shutdownTimeout`), then exits; the pool boots a replacement when `min` or demand needs
   * one. Returns false (and records why) when no ready runner has that id.
   */
  drainRunner(runnerId: string, action: ActionOptions = {}): boolean {
    const runner = coreSnapshot(this.#state).runners.find((r) => r.id === runnerId);
    if (this.#stopped || runner === undefined || runner.state !== "ready") {
      const why = this.#stopped
        ? "the pool is stopped"
        : runner === undefined
          ? "no such runner"
          : "it is already leaving";
      this.#control("drainRunner", runnerId, action, false, why);
      return false;
    }
    this.#control("drainRunner", runnerId, action, true, `${runner.inflight} call(s) to finish`);
    this.#dispatch({ type: "drainRunner", runnerId });
    return true;
  }

  /**
   * Ends one runner now through its backend (process killed, container removed, machine
   * destroyed). Its calls fail with RUNNER_DOWN; the pool replaces it as `min` or demand
   * needs. Returns false (and records why) when no live runner has that id.
   */
  killRunner(runnerId: string, action: ActionOptions = {}): boolean {
    const entry = this.#runners.get(runnerId);
    if (entry === undefined || entry.down) {
      this.#control("killRunner", runnerId, action, false, "no such runner");
      return false;
    }
    const inflight = coreSnapshot(this.#state).runners.find((r) => r.id === runnerId)?.inflight;
    this.#control("killRunner", runnerId, action, true, `${inflight ?? 0} call(s) failed`);
    entry.killed = true;
    entry.conn.terminate("killed by an operator");
    void entry.booted.stop().catch(() => {});
    return true;
  }

  snapshot(): PoolSnapshot {
    const core = coreSnapshot(this.#state);
    const runners: RunnerSnapshot[] = core.runners.map((r) => ({
      ...r,
      meta: this.#runners.get(r.id)?.meta ?? {},
    }));
    for (const boot of this.#boots.values()) {
      runners.push({
        id: boot.runnerId,
        state: "booting",
        inflight: 0,
        isMin: boot.isMin,
        bootedAtMs: null,
        callsServed: 0,
        meta: boot.meta,
      });
    }
    return {
      name: core.name,
      min: core.min,
      max: core.max,
      maxConcurrency: core.maxConcurrency,
      waiting: core.waiting,
      pendingBoots: core.pendingBoots,
      runners,
    };
  }

  /** Rejects waiters, drains every runner (up to shutdownTimeout), resolves once all exited. */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    if (this.#coreStarted) this.#dispatch({ type: "stop" });
    for (const boot of this.#boots.values()) {
      boot.abort.abort(stoppedError(this.name));
    }
    // Boots settle (and a runner that came up anyway is shut down) before we wait for exits.
    while (this.#bootTasks.size > 0) await Promise.all([...this.#bootTasks]);
    while (this.#exits.size > 0) await Promise.all([...this.#exits]);
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#timerAtMs = null;
    const server = this.#server;
    if (server !== null) await server.then((s) => s.close()).catch(() => {});
    this.#emit({ type: "stopped" });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- the event loop -------------------------------------------------------------------

  /**
   * `nowMs` when the caller already read the clock. One reading serves the whole synchronous
   * batch (events raised while carrying out effects included): the clock was ~1.5% of the
   * parent's CPU under load when read five times per call.
   */
  #dispatch(event: CoreEvent, nowMs?: number): void {
    this.#queue.push(event);
    if (this.#busy) return;
    this.#busy = true;
    const batchNowMs = nowMs ?? this.#clock.nowMs();
    this.#batchNowMs = batchNowMs;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        const { effects } = step(this.#state, next, batchNowMs);
        for (const effect of effects) {
          try {
            this.#carry(effect);
          } catch (error) {
            this.#o.log("error", `carrying out ${effect.type} failed`, { error: String(error) });
          }
        }
        if (this.#justQueued.length > 0) this.#classifyQueued();
      }
    } finally {
      this.#busy = false;
    }
    this.#rearm();
  }

  #rearm(): void {
    const at = this.#stopped && this.#queue.length === 0 ? null : nextDeadline(this.#state);
    if (at === this.#timerAtMs) return;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#timerAtMs = at;
    if (at !== null) {
      this.#timer = this.#clock.setTimer(at, () => {
        this.#timer = null;
        this.#timerAtMs = null;
        this.#dispatch({ type: "tick" });
      });
    }
  }

  #carry(effect: Effect): void {
    switch (effect.type) {
      case "grant":
        this.#grant(effect.checkoutId, effect.runnerId);
        return;
      case "reject": {
        const c = this.#checkouts.get(effect.checkoutId);
        if (c !== undefined) this.#failWaiting(c, coreError(effect.error, this.name));
        return;
      }
      case "failCheckout": {
        // The core already released the slot (runner down): settle without a checkin.
        const c = this.#checkouts.get(effect.checkoutId);
        if (c === undefined) return;
        this.#checkouts.delete(c.id);
        if (c.phase === "answered") c.phase = "done";
        else this.#settle(c, false, coreError(effect.error, this.name), false);
        return;
      }
      case "boot":
        this.#boot(effect.bootId, effect.isMin);
        return;
      case "shutdownRunner":
        this.#shutdownRunner(effect.runnerId, effect.reason);
        return;
      case "checkIdle":
        void this.#checkIdle(effect.runnerId);
        return;
      case "telemetry":
        this.#telemetry(effect.event);
        return;
    }
  }

  // ---- checkouts ------------------------------------------------------------------------

  /**
   * Asks for a slot. The call's span starts here so it covers the wait. When a runner has a
   * free slot the core grants it within this dispatch and the request is on its way before
   * `call` returns.
   */
  #checkout(
    kind: WorkKind,
    fnId: string,
    input: unknown,
    timeoutMs: number | null,
    signal: AbortSignal | undefined,
    onValue: Settle,
    onError: (error: FlameError) => void,
  ): void {
    const nowMs = this.#clock.nowMs();
    const c = new Checkout(
      this.#owner,
      String(++this.#nextCheckout),
      kind,
      fnId,
      input,
      timeoutMs,
      timeoutMs === null ? null : nowMs + timeoutMs,
      signal,
      startCallSpan(this.name, fnId, kind),
      nowMs,
      onValue,
      onError,
    );
    if (this.#stopped || signal?.aborted) {
      this.#failWaiting(c, this.#stopped ? stoppedError(this.name) : abortedError());
      return;
    }
    this.#ensureCoreStarted();
    this.#checkouts.set(c.id, c);
    signal?.addEventListener("abort", c, { once: true });
    const queueBoundMs =
      timeoutMs === null ? null : nowMs + Math.max(timeoutMs, this.#o.bootTimeoutMs);
    this.#dispatch({ type: "checkout", checkoutId: c.id, deadlineMs: queueBoundMs }, nowMs);
  }

  /**
   * Callers queued in the last step: with a boot in flight they are "cold" (bounded by
   * max(timeout, bootTimeout), the core's deadline); otherwise the plain timeout applies.
   */
  #classifyQueued(): void {
    const queued = this.#justQueued;
    this.#justQueued = [];
    const booting = this.#boots.size > 0;
    for (const c of queued) {
      if (c.phase !== "waiting" || !this.#checkouts.has(c.id)) continue;
      if (booting) {
        c.cold = true;
      } else if (c.callDeadlineMs !== null) {
        const deadline = c.callDeadlineMs;
        c.warmTimer = this.#clock.setTimer(deadline, () => {
          c.warmTimer = null;
          if (c.phase !== "waiting" || !this.#checkouts.has(c.id)) return;
          this.#emit({ type: "checkoutTimeout", checkoutId: c.id, waitedMs: c.timeoutMs ?? 0 });
          this.#failWaiting(
            c,
            new FlameError(
              "TIMEOUT",
              `Pool "${this.name}": no runner slot freed up within the call's timeout (${c.timeoutMs} ms); every runner is busy and the pool is at max. Raise \`timeout\`, \`max\` or \`maxConcurrency\`.`,
            ),
          );
          this.#dispatch({ type: "callerGone", checkoutId: c.id });
        });
      }
    }
  }

  #grant(checkoutId: string, runnerId: string): void {
    const c = this.#checkouts.get(checkoutId);
    // Caller already gone: its queued `callerGone` releases the slot.
    if (c === undefined || c.phase !== "waiting") return;
    const runner = this.#runners.get(runnerId);
    if (runner === undefined) {
      this.#failWaiting(
        c,
        new FlameError("RUNNER_DOWN", `Runner ${runnerId} is gone.`, { runnerId }),
      );
      this.#dispatch({ type: "checkin", checkoutId, reason: "error" });
      return;
    }
    c.phase = "granted";
    this.#clearWaitHooks(c);
    const nowMs = this.#batchNowMs; // grants are only carried out inside #dispatch
    c.runnerId = runnerId;
    c.grantedAtMs = nowMs;
    c.span.setRunner(runnerId);
    const runDeadlineMs =
      c.timeoutMs === null ? null : c.cold ? nowMs + c.timeoutMs : c.callDeadlineMs;
    this.#startWork(c, runner.conn, runDeadlineMs);
  }

  /** Sends the granted work to its runner; the outcome comes back through `#settle`. */
  #startWork(c: Checkout, conn: LinkConnection, deadlineMs: number | null): void {
    const traceparent = c.span.traceparent;
    switch (c.kind) {
      case "call": {
        // The wire carries what is left, never an instant: the runner's clock is not ours.
        const timeoutMs = deadlineMs === null ? null : Math.max(0, deadlineMs - this.#batchNowMs);
        conn.request("call", c.fnId, c.input, { timeoutMs, signal: c.signal, traceparent }, c);
        return;
      }
      case "cast":
        conn.request("cast", c.fnId, c.input, withoutDeadline(traceparent), c);
        return;
      case "child":
        this.#startChild(c, conn);
        return;
    }
  }

  /** A child resolves `placeChild` at once with a handle; its outcome settles `result`. */
  #startChild(c: Checkout, conn: LinkConnection): void {
    this.#dispatch({ type: "convertToChild", checkoutId: c.id, childId: c.id });
    const placed = c.onValue;
    const result = new Promise<unknown>((resolve, reject) => {
      c.onValue = resolve;
      c.onError = reject;
    });
    const settled = result.then(ignore, ignore);
    c.requestId = conn.request("child", c.fnId, c.input, withoutDeadline(c.span.traceparent), c);
    const stopChild = (): void => {
      if (c.requestId !== null && c.phase === "granted") conn.stopChild(c.requestId);
    };
    const signal = c.signal;
    if (signal !== undefined) {
      signal.addEventListener("abort", stopChild, { once: true });
      void settled.then(() => signal.removeEventListener("abort", stopChild));
    }
    placed({
      runnerId: conn.runnerId,
      result,
      stop: async () => {
        stopChild();
        await settled;
      },
    } satisfies PlacedChild<unknown>);
  }

  /**
   * The one place granted work ends: releases the slot (unless the core already did, or the
   * work still runs on the runner: then `#released` does it later), ends the span, reports
   * `callFinished`, and settles the caller.
   */
  #settle(c: Checkout, ok: boolean, valueOrError: unknown, stillRunning: boolean): void {
    if (c.phase === "waiting") {
      this.#failWaiting(c, asFlameError(valueOrError));
      return;
    }
    if (c.phase !== "granted") return;
    const error = ok ? null : asFlameError(valueOrError);
    const errorCode = error?.code;
    const nowMs = this.#clock.nowMs();
    c.checkinReason =
      errorCode === undefined ? "done" : errorCode === "TIMEOUT" ? "timeout" : "error";
    if (stillRunning && this.#checkouts.has(c.id)) {
      // The caller is answered now; the slot is released only once the work has stopped, so
      // a runner never runs more than maxConcurrency functions.
      c.phase = "answered";
    } else {
      c.phase = "done";
      if (this.#checkouts.delete(c.id)) {
        this.#dispatch({ type: "checkin", checkoutId: c.id, reason: c.checkinReason }, nowMs);
      }
    }
    c.span.end(error === null, errorCode);
    this.#emit({
      type: "callFinished",
      kind: c.kind,
      fn: c.fnId,
      runnerId: c.runnerId,
      durationMs: nowMs - c.grantedAtMs,
      ok: error === null,
      ...(error === null
        ? {}
        : { errorCode: error.code, errorMessage: error.message.slice(0, 300) }),
    });
    if (error === null) c.onValue(valueOrError);
    else c.onError(error);
  }

  /** Work answered early (TIMEOUT, ABORTED) has really stopped: its slot is free. */
  #released(c: Checkout): void {
    if (c.phase !== "answered") return;
    c.phase = "done";
    if (this.#checkouts.delete(c.id)) {
      this.#dispatch({ type: "checkin", checkoutId: c.id, reason: c.checkinReason });
    }
  }

  /** A caller that never reached a runner (timeout, abort, stopped pool, no runner). */
  #failWaiting(c: Checkout, error: FlameError): void {
    if (c.phase !== "waiting") return;
    c.phase = "done";
    this.#forget(c);
    c.span.end(false, error.code);
    this.#emit({
      type: "callFinished",
      kind: c.kind,
      fn: c.fnId,
      runnerId: null,
      durationMs: this.#clock.nowMs() - c.startedAtMs,
      ok: false,
      errorCode: error.code,
      errorMessage: error.message.slice(0, 300),
    });
    c.onError(error);
  }

  #abortWaiting(c: Checkout): void {
    if (c.phase !== "waiting" || !this.#checkouts.has(c.id)) return;
    this.#failWaiting(c, abortedError());
    this.#dispatch({ type: "callerGone", checkoutId: c.id });
  }

  /** Drops a waiting checkout from the host's books (the core is told separately). */
  #forget(c: Checkout): void {
    this.#checkouts.delete(c.id);
    this.#clearWaitHooks(c);
  }

  #clearWaitHooks(c: Checkout): void {
    c.signal?.removeEventListener("abort", c);
    if (c.warmTimer !== null) this.#clock.clearTimer(c.warmTimer);
    c.warmTimer = null;
  }

  // ---- runners --------------------------------------------------------------------------

  /** Dispatches `start` once; returns the min boots it caused. */
  #ensureCoreStarted(): BootEntry[] {
    if (this.#coreStarted) return [];
    this.#coreStarted = true;
    void this.#serverReady().catch(() => {});
    const before = new Set(this.#boots.keys());
    this.#dispatch({ type: "start" });
    return [...this.#boots.values()].filter((b) => !before.has(b.bootId));
  }

  #serverReady(): Promise<LinkServer> {
    this.#server ??= this.#listen({
      host: this.#o.listen.host,
      port: this.#o.listen.port,
      ...(this.#o.listen.advertiseUrl === undefined
        ? {}
        : { advertiseUrl: this.#o.listen.advertiseUrl }),
      maxFrameBytes: this.#o.maxFrameBytes,
      heartbeatIntervalMs: this.#o.heartbeat.intervalMs,
      heartbeatTimeoutMs: this.#o.heartbeat.timeoutMs,
      log: this.#o.log,
    });
    return this.#server;
  }

  #boot(bootId: string, isMin: boolean): void {
    let settle: (error: string | null) => void = () => {};
    const outcome = new Promise<string | null>((resolve) => {
      settle = resolve;
    });
    const entry: BootEntry = {
      bootId,
      runnerId: newRunnerId(this.name),
      isMin,
      startedAtMs: this.#clock.nowMs(),
      abort: new AbortController(),
      meta: {},
      outcome,
      settle,
    };
    this.#boots.set(bootId, entry);
    this.#bootStartedAt.set(bootId, entry.startedAtMs);
    const task = this.#runBoot(entry);
    this.#bootTasks.add(task);
    void task.finally(() => this.#bootTasks.delete(task));
  }

  async #runBoot(b: BootEntry): Promise<void> {
    const deadlineMs = b.startedAtMs + this.#o.bootTimeoutMs;
    const signal = b.abort.signal;
    const timer = this.#clock.setTimer(deadlineMs, () =>
      b.abort.abort(
        new FlameError(
          "BOOT_FAILED",
          `runner ${b.runnerId} did not say hello within bootTimeout (${this.#o.bootTimeoutMs} ms)`,
        ),
      ),
    );
    let bootCall: Promise<BootedRunner> | null = null;
    let booted: BootedRunner | null = null;
    try {
      const server = await untilAborted(this.#serverReady(), signal);
      const token = generateToken();
      const env = {
        FLAME_PARENT: encodeParentDescriptor({
          url: server.url,
          token,
          runnerId: b.runnerId,
          pool: this.name,
          protocol: PROTOCOL_VERSION,
          idleShutdownAfterMs: null,
          singleUse: this.#o.singleUse,
          failsafeTimeoutMs: this.#o.failsafeTimeoutMs,
          shutdownTimeoutMs: this.#o.shutdownTimeoutMs,
          maxFrameBytes: this.#o.maxFrameBytes,
          heartbeatIntervalMs: this.#o.heartbeat.intervalMs,
          heartbeatTimeoutMs: this.#o.heartbeat.timeoutMs,
          maxConcurrency: this.#o.maxConcurrency,
          execution: this.#o.execution,
        }),
      };
      const hello = server.expect(b.runnerId, token, signal);
      hello.catch(() => {});
      bootCall = this.#backend.boot({
        runnerId: b.runnerId,
        poolName: this.name,
        parentId,
        env,
        signal,
        deadlineMs,
        log: this.#o.log,
      });
      booted = await untilAborted(bootCall, signal);
      b.meta = { ...booted.meta };
      const exit = booted.exited;
      const exitedEarly = exit.then((e) => {
        throw new FlameError(
          "BOOT_FAILED",
          `runner ${b.runnerId} exited before saying hello (code ${e.code}: ${e.reason})`,
        );
      });
      exitedEarly.catch(() => {});
      const conn = await untilAborted(Promise.race([hello, exitedEarly]), signal);
      this.#clock.clearTimer(timer);
      this.#boots.delete(b.bootId);
      this.#addRunner(b, conn, booted);
      b.settle(null);
    } catch (error) {
      this.#clock.clearTimer(timer);
      b.abort.abort(error);
      if (booted !== null) {
        void booted.stop().catch(() => {});
      } else if (bootCall !== null) {
        // The backend may still finish after we gave up: end what it started.
        void bootCall.then(
          (late) => late.stop().catch(() => {}),
          () => {},
        );
      }
      const message = bootFailureMessage(error, this.#backend.name);
      this.#boots.delete(b.bootId);
      this.#o.log("warn", `boot of ${b.runnerId} failed: ${message}`);
      this.#emit({
        type: "bootFailed",
        bootId: b.bootId,
        error: message,
        bootMs: this.#clock.nowMs() - b.startedAtMs,
      });
      this.#dispatch({ type: "bootFailed", bootId: b.bootId, error: message });
      b.settle(message);
    }
  }

  #addRunner(b: BootEntry, conn: LinkConnection, booted: BootedRunner): void {
    let markExited: () => void = () => {};
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const entry: RunnerEntry = {
      id: b.runnerId,
      conn,
      booted,
      meta: { ...booted.meta },
      isMin: b.isMin,
      down: false,
      killTimer: null,
      shutdownSpan: null,
      killed: false,
      exited,
    };
    this.#runners.set(entry.id, entry);
    this.#exits.add(exited);
    void booted.exited.then((exit) => {
      this.#runnerGone(entry, `runner exited (code ${exit.code}): ${exit.reason}`, exit.code);
      this.#runners.delete(entry.id);
      this.#exits.delete(exited);
      markExited();
    });
    void conn.closed.then(({ reason }) => {
      this.#runnerGone(entry, `link closed: ${reason}`, null);
      // An agent exits when its link drops; make sure of it.
      void booted.stop().catch(() => {});
    });
    this.#emit({
      type: "runnerUp",
      runnerId: entry.id,
      isMin: b.isMin,
      meta: entry.meta,
      bootMs: this.#clock.nowMs() - b.startedAtMs,
    });
    this.#dispatch({ type: "bootSucceeded", bootId: b.bootId, runnerId: entry.id });
  }

  #runnerGone(entry: RunnerEntry, reason: string, exitCode: number | null): void {
    if (entry.down) return;
    entry.down = true;
    if (entry.killTimer !== null) this.#clock.clearTimer(entry.killTimer);
    entry.killTimer = null;
    this.#o.log("info", `runner ${entry.id} down: ${reason}`);
    const expected = entry.shutdownSpan !== null;
    entry.shutdownSpan?.end(
      entry.killed
        ? { ok: false, errorCode: "TIMEOUT", message: "killed after shutdownTimeout" }
        : { ok: true },
    );
    entry.shutdownSpan = null;
    this.#emit({ type: "runnerDown", runnerId: entry.id, reason, exitCode, expected });
    this.#dispatch({ type: "runnerDown", runnerId: entry.id, reason });
  }

  #shutdownRunner(runnerId: string, reason: string): void {
    const entry = this.#runners.get(runnerId);
    if (entry === undefined || entry.killTimer !== null) return;
    const timeoutMs = this.#o.shutdownTimeoutMs;
    entry.shutdownSpan = startShutdownSpan(this.name, runnerId, reason);
    try {
      entry.conn.shutdown(reason, timeoutMs);
    } catch (error) {
      this.#o.log("warn", `asking ${runnerId} to shut down failed`, { error: String(error) });
    }
    entry.killTimer = this.#clock.setTimer(this.#clock.nowMs() + timeoutMs, () => {
      entry.killed = true;
      void entry.booted.stop().catch(() => {});
    });
  }

  async #checkIdle(runnerId: string): Promise<void> {
    const check = this.#o.idleCheck;
    let shutdown = true;
    if (check !== null) {
      try {
        shutdown = (await check({ runnerId })) === true;
      } catch (error) {
        shutdown = false;
        this.#o.log("warn", `idle check for ${runnerId} threw; keeping the runner`, {
          error: String(error),
        });
      }
    }
    this.#dispatch({ type: "idleChecked", runnerId, shutdown });
  }

  // ---- telemetry ------------------------------------------------------------------------

  #telemetry(event: CoreTelemetryEvent): void {
    switch (event.type) {
      case "growStart":
        this.#emit(event);
        this.#hook(() => this.#o.onGrowStart?.({ name: this.name, count: event.count }));
        return;
      case "growEnd": {
        const startedAt = this.#bootStartedAt.get(event.bootId);
        this.#bootStartedAt.delete(event.bootId);
        this.#emit({
          ...event,
          bootMs: startedAt === undefined ? 0 : this.#clock.nowMs() - startedAt,
        });
        const result = event.ok
          ? ({ ok: true } as const)
          : ({ ok: false, error: event.error ?? "boot failed" } as const);
        this.#hook(() => this.#o.onGrowEnd?.(result, { name: this.name, count: event.count }));
        return;
      }
      case "shrink":
        this.#emit(event);
        this.#hook(() => this.#o.onShrink?.({ name: this.name, count: event.count }));
        return;
      case "waiting": {
        const c = this.#checkouts.get(event.checkoutId);
        if (c !== undefined) this.#justQueued.push(c);
        return;
      }
      case "checkout":
        // Every grant, waited or not, so the wait-time histogram is not skewed (semconv's
        // db.client.connection.wait_time records each acquisition).
        this.#emit({
          type: "checkoutWaited",
          checkoutId: event.checkoutId,
          runnerId: event.runnerId,
          waitedMs: event.waitedMs,
        });
        return;
      case "timeout":
        this.#emit({
          type: "checkoutTimeout",
          checkoutId: event.checkoutId,
          waitedMs: event.waitedMs,
        });
        return;
      case "resize":
        this.#emit(event);
        return;
    }
  }

  #control(
    action: ControlAction,
    target: string,
    options: ActionOptions,
    ok: boolean,
    detail: string,
  ): void {
    this.#o.log(ok ? "info" : "warn", `${action} ${target}${ok ? "" : " refused"}: ${detail}`);
    this.#emit({ type: "control", action, target, by: options.by ?? null, ok, detail });
  }

  #emit(body: PoolEventBody): void {
    this.#stream.emit(body);
  }

  #hook(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#o.log("warn", "a pool hook threw", { error: String(error) });
    }
  }
}

type Settle = (value: unknown) => void;

const ignore = (): void => {};

/** Casts and children have no deadline and no signal on the wire. */
function withoutDeadline(traceparent: string | undefined): RequestOptions {
  return { timeoutMs: null, signal: undefined, traceparent };
}

function asFlameError(error: unknown): FlameError {
  return isFlameError(error)
    ? error
    : new FlameError("RUNNER_DOWN", String(error), { cause: error });
}

function functionId(fn: FlameFunction<unknown, unknown> | unknown): string {
  const id = (fn as { id?: unknown } | null)?.id;
  if (typeof id !== "string") {
    throw new FlameError(
      "INVALID_OPTIONS",
      "Invalid argument `fn`: expected a function made with defineFunction(id, impl).",
      { field: "fn" },
    );
  }
  return id;
}

function callTimeout(value: number | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === Number.POSITIVE_INFINITY) return null;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `Invalid option \`timeout\`: expected a positive number of milliseconds or Infinity, got ${String(value)}.`,
      { field: "timeout" },
    );
  }
  return value;
}

function coreError(error: CoreError, pool: string): FlameError {
  if (error.code === "POOL_STOPPED") return stoppedError(pool);
  return new FlameError(error.code, error.message);
}

function stoppedError(pool: string): FlameError {
  return new FlameError(
    "POOL_STOPPED",
    `Pool "${pool}" is stopped; create a new Pool to run more calls.`,
  );
}

function abortedError(): FlameError {
  return new FlameError("ABORTED", "The call was aborted by its signal.");
}

function bootFailureMessage(error: unknown, backend: string): string {
  if (error instanceof Error) {
    return isFlameError(error) ? error.message : `${backend} backend: ${error.message}`;
  }
  return `${backend} backend: ${String(error)}`;
}

/** Settles like `promise`, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
