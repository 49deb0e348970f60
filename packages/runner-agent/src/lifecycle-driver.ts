/**
 * The edge of the agent's machine (lifecycle/machine.ts): it feeds the machine one event at a
 * time with `nowMs` from the monotonic clock, keeps the one real timer (armed at the machine's
 * next deadline), and carries out the effects: dial attempts and the way out itself, the rest
 * through the session once the parent welcomed this runner. The executor loads the entry while
 * the machine dials: the hello waits for it (dial.ts), a failed load is the machine's
 * `entryFailed`.
 *
 * Events raised while carrying out effects queue behind the current one (never re-entrant).
 */
import {
  type Codec,
  DeadlineTimer,
  type LongTimer,
  setLongTimeout,
} from "@flame-ts/pool-core/protocol";
import type { ParentDescriptor } from "@flame-ts/pool-core/wire";
import { dialOnce, type EntryLoad, type WelcomedLink } from "./dial.js";
import type { Executor, SinkRelay } from "./executor/executor.js";
import { type AgentExit, EXIT } from "./exit-codes.js";
import {
  type AgentEffect,
  type AgentEvent,
  type AgentState,
  initialAgentState,
} from "./lifecycle/agent-state.js";
import { nextDeadline, step } from "./lifecycle/machine.js";
import { Session } from "./session.js";
import { runnerSlots } from "./slots.js";

export interface DriverOptions {
  readonly descriptor: ParentDescriptor;
  readonly codec: Codec;
  /** The executor, up once the entry module loaded; rejects with why it could not load. */
  readonly loading: Promise<Executor>;
  /** The entry module's URL (named to the parent while it loads); null: none. */
  readonly entry: string | null;
  /** Threads that run the functions (1 inline): the hello says so. */
  readonly threads: number;
  /** Where the executor reports; the session attaches itself before taking any frame. */
  readonly sink: SinkRelay;
  readonly debug: (msg: string) => void;
}

export class LifecycleDriver {
  /** Settles once, after the machine decided to leave and the way out was carried out. */
  readonly exited: Promise<AgentExit>;
  #resolveExited!: (exit: AgentExit) => void;
  readonly #options: DriverOptions;
  readonly #state: AgentState;
  readonly #mailbox: AgentEvent[] = [];
  #busy = false;
  readonly #timer = new DeadlineTimer(
    monotonicClock,
    () => nextDeadline(this.#state),
    () => this.dispatch({ type: "tick" }),
  );
  /** Aborted when the machine leaves: the attempt in flight, if any, is dropped. */
  readonly #dialing = new AbortController();
  #session: Session | null = null;
  /** Set once the entry loaded (the welcome always comes after: the hello waits for it). */
  #executor: Executor | null = null;
  readonly #entryLoad: EntryLoad;

  constructor(options: DriverOptions) {
    this.#options = options;
    const loaded = options.loading.then((executor) => {
      this.#executor = executor;
      return executor.functions;
    });
    loaded.catch((err: unknown) => {
      this.dispatch({ type: "entryFailed", reason: (err as Error)?.message ?? String(err) });
    });
    this.#entryLoad = {
      entry: options.entry,
      threads: options.threads,
      known: () => this.#executor?.functions ?? null,
      loaded,
      onLoading: () => this.dispatch({ type: "entryLoading" }),
    };
    const { descriptor } = options;
    this.#state = initialAgentState(
      {
        parentUrl: descriptor.url,
        failsafeTimeoutMs: descriptor.failsafeTimeoutMs,
        idleShutdownAfterMs: descriptor.idleShutdownAfterMs,
        singleUse: descriptor.singleUse,
        terminateGraceMs: descriptor.execution.terminateGraceMs,
        slots: runnerSlots(descriptor),
      },
      monotonicClock.nowMs(),
    );
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  /** Feeds the machine one event; events raised while carrying out effects queue. */
  dispatch(event: AgentEvent): void {
    this.#mailbox.push(event);
    if (this.#busy) return;
    this.#busy = true;
    // Threads claim no queued task while the machine decides, and every claim made so far is
    // stepped first: the machine never answers or gives back a task that already started.
    const executor = this.#executor;
    try {
      for (const id of executor?.hold() ?? []) this.#step({ type: "started", id });
      for (let next = this.#mailbox.shift(); next !== undefined; next = this.#mailbox.shift()) {
        this.#step(next);
      }
    } finally {
      executor?.letGo();
      this.#busy = false;
    }
    this.#timer.update();
  }

  #step(event: AgentEvent): void {
    const { effects } = step(this.#state, event, monotonicClock.nowMs());
    for (const effect of effects) this.#carry(effect);
  }

  #carry(effect: AgentEffect): void {
    switch (effect.type) {
      case "dial":
        this.#dial();
        return;
      case "leave":
        this.#leave(EXIT[effect.exit], effect.reason, effect.announce);
        return;
      default:
        this.#session?.carry(effect);
    }
  }

  #dial(): void {
    const { descriptor, codec } = this.#options;
    void dialOnce(descriptor, codec, this.#entryLoad, this.#dialing.signal).then((dialed) => {
      if (dialed.kind === "welcomed") this.#welcomed(dialed.link);
      else this.dispatch({ type: dialed.kind, reason: dialed.reason });
    });
  }

  #welcomed(link: WelcomedLink): void {
    if (this.#state.life.phase !== "connecting") {
      // It decided to leave while this attempt was answering.
      link.ws.close(1000, "runner stopping");
      return;
    }
    const { descriptor, codec, sink, debug } = this.#options;
    const executor = this.#executor;
    // The hello waited for the entry (dial.ts): a welcomed runner always has its executor.
    if (executor === null) throw new Error("welcomed before the entry module loaded");
    debug(`connected to ${descriptor.url} as ${descriptor.runnerId}`);
    this.#session = new Session(link, {
      descriptor,
      codec,
      executor,
      sink,
      debug,
      dispatch: (event) => this.dispatch(event),
    });
    this.dispatch({ type: "welcomed" });
    this.#session.takeFrames();
    this.dispatch({ type: "caughtUp" });
  }

  /**
   * The single way out: any dial attempt is dropped, the link hung up (`announce` sent first
   * when set) while the executor disposes every tracked value and stops its work; `exited`
   * settles once both are done.
   */
  #leave(code: AgentExit["code"], reason: string, announce: string | null): void {
    // Leaving has no deadline: a timer left armed must not keep an embedded agent's process up.
    this.#timer.close();
    this.#dialing.abort();
    const hungUp = this.#session?.hangUp(code === EXIT.OK, reason, announce) ?? Promise.resolve();
    // Tracked values are disposed first, bounded like a drain: a dispose that hangs can't keep it.
    // An entry still loading is not waited for (it may hang): it is closed if it ever loads,
    // and the bin's exit ends its thread.
    const { loading, descriptor } = this.#options;
    const closed =
      this.#executor?.close(descriptor.shutdownTimeoutMs).catch(() => {}) ?? Promise.resolve();
    if (this.#executor === null) {
      void loading.then((late) => late.close(0)).catch(() => {});
    }
    void Promise.all([hungUp, closed]).then(() => this.#resolveExited({ code, reason }));
  }
}

/**
 * The machine's time base: `performance.now()`, monotonic. Long-timeout safe: a deadline 30
 * days out must not tick (and spin) at once.
 */
const monotonicClock = {
  nowMs: () => performance.now(),
  setTimer: (atMs: number, fn: () => void): LongTimer =>
    setLongTimeout(fn, atMs - performance.now()),
  clearTimer: (handle: unknown) => (handle as LongTimer).clear(),
};
