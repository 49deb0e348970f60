/**
 * The Pool: the public API, wired to the pure core through the mailbox. It holds no policy:
 * every rule and deadline is the core's (src/core/), and the host only carries out effects.
 *
 * - mailbox.ts: the core's state, one event at a time, the one real timer.
 * - fleet.ts: runners and boots (backend, runner link, exits).
 * - calls.ts: one call's life (checkout, grant, work on the runner, settle).
 * - send-work.ts: granted work onto the wire (what a call, cast or child sends its runner).
 * - telemetry-bridge.ts: what the core reports, as `pool.events` and the user's hooks.
 * - config.ts: options to the core's config; the core's snapshot to `pool.snapshot()`.
 * - arguments.ts: what a caller passes (function, timeout), validated.
 *
 * Timeout rule (FLAME #73), see README "Timeouts": a call's `timeout` spans waiting for a
 * slot plus running; a caller that has to wait for a runner to boot may wait up to
 * max(timeout, bootTimeout) and then gets its full `timeout` to run (decided in the core).
 *
 * Time: one monotonic clock (`Clock.nowMs`, performance.now-based by default) inside; budgets
 * are milliseconds at the edges; backends get their wall-clock deadline converted in fleet.ts.
 */
import type { CoreSnapshot, Effect } from "../core/index.js";
import { FlameError } from "../errors.js";
import type { FlameFunction } from "../functions.js";
import {
  type Clock,
  isInsideRunner,
  type PoolOptions,
  type ResolvedOptions,
  resolveDrainTimeout,
  resolveLimits,
  resolveOptions,
} from "../options/index.js";
import { PoolEventStream, type PoolEvents, type PoolSnapshot } from "../telemetry/events.js";
import { TrackedBook } from "../tracked/book.js";
import { type CallOptions, castSettings, functionId, workSettings } from "./arguments.js";
import { Calls, type PlacedChild, type Settle } from "./calls.js";
import { coreConfig, exitConfirmBoundMs, poolSnapshot } from "./config.js";
import { Fleet } from "./fleet.js";
import type { LinkServer, ListenLink } from "./link-port.js";
import { Mailbox } from "./mailbox.js";
import { listenRunnerServer } from "./runner-link.js";
import { openRunnerPort } from "./runner-port.js";
import { type ActionOptions, TelemetryBridge } from "./telemetry-bridge.js";

export type { CallOptions } from "./arguments.js";
export type { PlacedChild } from "./calls.js";
export type { ActionOptions } from "./telemetry-bridge.js";

/** Internal seams for tests: an in-memory link and a fake environment. */
export interface PoolInternals {
  readonly listen?: ListenLink;
  readonly env?: NodeJS.ProcessEnv;
}

export class Pool {
  readonly name: string;
  readonly #o: ResolvedOptions;
  readonly #clock: Clock;
  readonly #listen: ListenLink;
  readonly #insideRunner: boolean;
  /** `listen.host` given: the backend is not asked where to listen (runner-port.ts). */
  readonly #listenHostGiven: boolean;
  readonly #stream: PoolEventStream;
  readonly #bridge: TelemetryBridge;
  readonly #mailbox: Mailbox;
  readonly #fleet: Fleet;
  readonly #calls: Calls;
  readonly #tracked: TrackedBook;

  #server: Promise<LinkServer> | null = null;
  readonly #stopped: Promise<void>;
  #markStopped: () => void = () => {};

  constructor(options: PoolOptions, internals: PoolInternals = {}) {
    const env = internals.env ?? process.env;
    const o = resolveOptions(options, env);
    this.#o = o;
    this.#insideRunner = isInsideRunner(env);
    this.#listenHostGiven = options.listen?.host !== undefined;
    this.name = o.name;
    this.#clock = o.clock;
    this.#listen = internals.listen ?? listenRunnerServer;
    this.#stream = new PoolEventStream({
      pool: this.name,
      snapshot: () => this.snapshot(),
      nowMs: () => this.#clock.nowMs(),
      onListenerError: (error) =>
        o.log("warn", "a pool.events listener threw", { error: String(error) }),
    });
    this.#bridge = new TelemetryBridge(this.name, this.#stream, o);
    const config = coreConfig(o);
    this.#mailbox = new Mailbox(config, this.#clock, (e) => this.#carry(e), o.log);
    const dispatch = this.#mailbox.dispatch.bind(this.#mailbox);
    const emit = this.#bridge.emit.bind(this.#bridge);
    this.#tracked = new TrackedBook({
      connection: (runnerId) => this.#fleet.connection(runnerId),
      emit,
      log: o.log,
      holderDone: (checkoutId) => this.#calls.holderDone(checkoutId),
      closing: () => this.#closing(),
    });
    this.#fleet = new Fleet({
      pool: this.name,
      backend: o.backend,
      clock: this.#clock,
      log: o.log,
      server: () => this.#serverReady(),
      descriptor: {
        singleUse: o.singleUse,
        failsafeTimeoutMs: o.failsafeTimeoutMs,
        shutdownTimeoutMs: o.shutdownTimeoutMs,
        maxFrameBytes: o.maxFrameBytes,
        heartbeatIntervalMs: o.heartbeat.intervalMs,
        heartbeatTimeoutMs: o.heartbeat.timeoutMs,
        maxConcurrency: o.maxConcurrency,
        execution: o.execution,
      },
      dispatch,
      emit,
      released: (runnerId, group, index, outcome) =>
        this.#tracked.released(runnerId, group, index, outcome),
    });
    this.#calls = new Calls({
      pool: this.name,
      clock: this.#clock,
      dispatch,
      batchNowMs: () => this.#mailbox.batchNowMs,
      connection: (runnerId) => this.#fleet.connection(runnerId),
      emit,
      log: o.log,
      tracked: this.#tracked,
    });
    this.#stopped = new Promise((resolve) => {
      this.#markStopped = resolve;
    });
  }

  /** Typed, sequence-numbered events (growStart, runnerUp, callFinished, …). */
  get events(): PoolEvents {
    return this.#stream;
  }

  /**
   * Starts listening for runners and boots `min` of them; resolves once the min boots in
   * flight are up, rejects BOOT_FAILED if one can't boot. The first call starts the pool too.
   */
  async start(): Promise<void> {
    if (this.#closing()) throw stoppedError(this.name);
    await this.#serverReady();
    this.#mailbox.dispatch({ type: "start" });
    // Buffer boots do not hold start(), only min ones (the core's own, from its snapshot).
    const outcomes = this.#mailbox
      .snapshot()
      .boots.filter((boot) => boot.isMin)
      .map((boot) => this.#fleet.bootOutcome(boot.bootId) ?? Promise.resolve(null));
    const failures = (await Promise.all(outcomes)).filter((e): e is string => e !== null);
    if (failures.length > 0) {
      throw new FlameError(
        "BOOT_FAILED",
        `Pool "${this.name}" could not boot its ${this.#o.min} min runner(s): ${failures[0]}. Check the backend and the runner entry.`,
      );
    }
  }

  /**
   * Runs `fn(input)` on a runner and returns its result. See README "Timeouts". A result
   * carrying tracked resources (`ctx.track`) arrives with `Tracked` handles in their place;
   * `{ on: handle }` pins the call to the runner holding one (README "Tracked resources").
   */
  call<I, O>(fn: FlameFunction<I, O>, input: I, options: CallOptions = {}): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const work = workSettings(functionId(fn), options, this.#o);
      this.#calls.checkout("call", input, work, resolve as Settle, reject);
    });
  }

  /** Fire and forget: waits up to bootTimeout for a slot; failures go to telemetry and the log. */
  cast<I, O>(fn: FlameFunction<I, O>, input: I, options: Pick<CallOptions, "link"> = {}): void {
    const work = castSettings(functionId(fn), options, this.#o);
    this.#calls.checkout("cast", input, work, ignore, (error) =>
      this.#o.log("warn", `cast of "${work.fnId}" failed`, { error: String(error) }),
    );
  }

  /** Starts a long-lived `fn(input)` on a runner; it holds one slot until it ends. */
  placeChild<I, O>(
    fn: FlameFunction<I, O>,
    input: I,
    options: CallOptions = {},
  ): Promise<PlacedChild<O>> {
    return new Promise<PlacedChild<O>>((resolve, reject) => {
      const work = workSettings(functionId(fn), options, this.#o);
      this.#calls.checkout("child", input, work, resolve as Settle, reject);
    });
  }

  /**
   * Changes min/max (and `buffer`) at runtime: boots up to the new min, drains surplus idle
   * runners first.
   */
  resize(limits: { min: number; max: number; buffer?: number }, action: ActionOptions = {}): void {
    const { min, max, buffer } = resolveLimits(limits, this.#insideRunner);
    if (this.#closing()) throw stoppedError(this.name);
    if (action.by !== undefined) {
      const detail = `min ${min}, max ${max}${buffer === undefined ? "" : `, buffer ${buffer}`}`;
      this.#bridge.control("resize", this.name, action, true, detail);
    }
    this.#mailbox.dispatch(
      buffer === undefined ? { type: "resize", min, max } : { type: "resize", min, max, buffer },
    );
  }

  /**
   * Asks one runner to leave gracefully: it takes no new work, finishes what it runs (up to
   * `shutdownTimeout`), then exits; the pool boots a replacement when `min` or demand needs
   * one. Returns false (and records why) when no ready runner has that id.
   */
  drainRunner(runnerId: string, action: ActionOptions = {}): boolean {
    const core = this.#mailbox.snapshot();
    const closing = core.draining || core.stopped;
    const runner = core.runners.find((r) => r.id === runnerId);
    if (closing || runner === undefined || runner.state !== "ready") {
      const why = closing
        ? "the pool is stopped"
        : runner === undefined
          ? "no such runner"
          : "it is already leaving";
      this.#bridge.control("drainRunner", runnerId, action, false, why);
      return false;
    }
    const detail = `${runner.inflight + runner.queued} call(s) to finish`;
    this.#bridge.control("drainRunner", runnerId, action, true, detail);
    this.#mailbox.dispatch({ type: "drainRunner", runnerId });
    return true;
  }

  /**
   * Ends one runner now through its backend (process killed, container removed, machine
   * destroyed). Its calls fail with RUNNER_DOWN; the pool replaces it as `min` or demand
   * needs. Returns false (and records why) when no live runner has that id.
   */
  killRunner(runnerId: string, action: ActionOptions = {}): boolean {
    if (!this.#fleet.isLive(runnerId)) {
      this.#bridge.control("killRunner", runnerId, action, false, "no such runner");
      return false;
    }
    const runner = this.#mailbox.snapshot().runners.find((r) => r.id === runnerId);
    const calls = runner === undefined ? 0 : runner.inflight + runner.queued;
    this.#bridge.control("killRunner", runnerId, action, true, `${calls} call(s) failed`);
    this.#fleet.kill(runnerId, "killed by an operator", "operator");
    return true;
  }

  snapshot(): PoolSnapshot {
    return poolSnapshot(this.#mailbox.snapshot(), this.#fleet);
  }

  /**
   * Graceful exit for deploys (e.g. on SIGTERM): new calls fail POOL_STOPPED at once; queued
   * and running calls finish, up to `timeout` (default: the pool's `timeout`); then every
   * runner is shut down as by `stop()`. Resolves once the pool has stopped.
   */
  drain(options: { timeout?: number } = {}): Promise<void> {
    const timeoutMs = resolveDrainTimeout(options.timeout, this.#o.timeoutMs);
    // A drain after a drain or a stop changes nothing (the core's rule).
    this.#mailbox.dispatch({ type: "drain", timeoutMs });
    return this.#stopped;
  }

  /**
   * Rejects waiters, asks every runner to leave, and resolves once all are gone. Bounded:
   * a runner still there after `shutdownTimeout` is killed through its backend, and one
   * whose exit the backend never reports is given up on shortly after (both reported as
   * `runnerKilled` events), so it never hangs.
   */
  stop(): Promise<void> {
    this.#mailbox.dispatch({ type: "stop" });
    // Every handle is released for the app now; each runner disposes its values as it exits.
    this.#tracked.stop();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #carry(effect: Effect): void {
    switch (effect.type) {
      case "grant":
        this.#calls.grant(effect.checkoutId, effect.runnerId, effect.runDeadlineMs);
        return;
      case "reject":
        this.#calls.reject(effect.checkoutId, effect.error);
        return;
      case "retryCheckout":
        this.#calls.retry(effect.checkoutId, effect.attempt, effect.error, effect.retryAtMs);
        return;
      case "unqueue":
        this.#calls.unqueue(effect.checkoutId, effect.runnerId);
        return;
      case "failCheckout":
        this.#calls.failGranted(effect.checkoutId, effect.error, effect.answeredEarly === true);
        return;
      case "boot":
        this.#fleet.boot(effect.bootId, effect.runnerId, effect.isMin, effect.deadlineMs);
        return;
      case "abortBoot":
        this.#fleet.abortBoot(effect.bootId, effect.reason);
        return;
      case "shutdownRunner":
        this.#fleet.shutdown(effect.runnerId, effect.reason, effect.timeoutMs);
        return;
      case "killRunner":
        this.#fleet.kill(effect.runnerId, effect.reason, "pool");
        return;
      case "checkIdle":
        void this.#checkIdle(effect.runnerId);
        return;
      case "stopped":
        void this.#finishStop();
        return;
      case "forgetRunner":
        this.#fleet.abandon(effect.runnerId, effect.reason);
        return;
      case "telemetry":
        this.#bridge.core(effect.event);
        return;
    }
  }

  async #finishStop(): Promise<void> {
    this.#mailbox.close();
    // Aborted boots unwind (and stop what their backend started) before the listener closes.
    await this.#fleet.bootsSettled();
    // The core saw every runner go (link closed); wait for the processes themselves, bounded.
    await this.#fleet.exitsSettled(exitConfirmBoundMs(this.#o));
    const server = this.#server;
    if (server !== null) await server.then((s) => s.close()).catch(() => {});
    this.#bridge.emit({ type: "stopped" });
    this.#markStopped();
  }

  #serverReady(): Promise<LinkServer> {
    if (this.#server === null) {
      const opening = openRunnerPort(this.#o, this.#listenHostGiven, this.#listen);
      this.#server = opening;
      // A port that could not open (the backend's network could not be made) is tried again
      // at the next boot rather than failing every boot after it.
      opening.catch(() => {
        if (this.#server === opening) this.#server = null;
      });
    }
    return this.#server;
  }

  /** Drain or stop asked (the core's own state, not a flag kept here). */
  #closing(): boolean {
    const core: CoreSnapshot = this.#mailbox.snapshot();
    return core.draining || core.stopped;
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
    this.#mailbox.dispatch({ type: "idleChecked", runnerId, shutdown });
  }
}

const ignore = (): void => {};

function stoppedError(pool: string): FlameError {
  return new FlameError(
    "POOL_STOPPED",
    `Pool "${pool}" is stopped; create a new Pool to run more calls.`,
  );
}
