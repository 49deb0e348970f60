/**
 * Runners and boots: carries out the core's `boot`, `abortBoot`, `shutdownRunner` and
 * `killRunner` effects with the backend and the runner link, and reports what happened
 * (`bootSucceeded`, `bootFailed`, `runnerDown`, `runnerLeaving`) back to the core. It decides
 * nothing: the boot deadline, the kill deadline and when to give up on a runner are the core's.
 * A link's close is reported the moment the link reports it, before anything else can reach
 * the core, so the core fails that runner's calls and never grants it again.
 */
import type { Backend, BootedRunner } from "../backend.js";
import type { CoreEvent } from "../core/index.js";
import { FlameError, isFlameError } from "../errors.js";
import type { Clock, LogFn } from "../options/index.js";
import { encodeParentDescriptor } from "../protocol/descriptor.js";
import type { ExecutionSettings } from "../protocol/messages.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import { generateToken } from "../protocol/token.js";
import { runnerInfoEnv } from "../runner-info.js";
import type { PoolEventBody } from "../telemetry/events.js";
import { type InternalSpan, startShutdownSpan } from "../telemetry/spans.js";
import { untilAborted } from "../until-aborted.js";
import { RUNNER_EXIT } from "../wire/exit-codes.js";
import { parentId } from "./ids.js";
import type { LinkConnection, LinkServer, ReleasedOutcome } from "./link-port.js";

export interface FleetDeps {
  readonly pool: string;
  readonly backend: Backend;
  readonly clock: Clock;
  readonly log: LogFn;
  readonly server: () => Promise<LinkServer>;
  /** What the runner descriptor carries besides identity. */
  readonly descriptor: {
    readonly singleUse: boolean;
    readonly failsafeTimeoutMs: number;
    readonly shutdownTimeoutMs: number;
    readonly maxFrameBytes: number;
    readonly heartbeatIntervalMs: number;
    readonly heartbeatTimeoutMs: number;
    readonly maxConcurrency: number;
    readonly execution: ExecutionSettings;
  };
  readonly dispatch: (event: CoreEvent) => void;
  readonly emit: (body: PoolEventBody) => void;
  /** A runner's `released` (its tracked resource is gone): false when nothing held it. */
  readonly released: (
    runnerId: string,
    group: number,
    index: number,
    outcome: ReleasedOutcome,
  ) => boolean;
}

interface BootEntry {
  readonly bootId: string;
  readonly runnerId: string;
  readonly isMin: boolean;
  readonly startedAtMs: number;
  readonly abort: AbortController;
  /** The core gave up on it (deadline, stop): report nothing more, stop what came up. */
  abandoned: boolean;
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
  down: boolean;
  /** Open from the pool's shutdown request until the runner is gone (`flame.shutdown`). */
  shutdownSpan: InternalSpan | null;
  /** Killed through the backend: by the pool (shutdownTimeout passed) or by an operator. */
  killedBy: "pool" | "operator" | null;
}

export class Fleet {
  readonly #d: FleetDeps;
  readonly #boots = new Map<string, BootEntry>();
  readonly #runners = new Map<string, RunnerEntry>();
  /** Boot tasks still unwinding (an aborted one ends promptly: it does not await the backend). */
  readonly #bootTasks = new Set<Promise<void>>();

  constructor(deps: FleetDeps) {
    this.#d = deps;
  }

  connection(runnerId: string): LinkConnection | undefined {
    const entry = this.#runners.get(runnerId);
    return entry === undefined || entry.down ? undefined : entry.conn;
  }

  runnerMeta(runnerId: string): Readonly<Record<string, string>> {
    return this.#runners.get(runnerId)?.meta ?? {};
  }

  bootMeta(bootId: string): Readonly<Record<string, string>> {
    return this.#boots.get(bootId)?.meta ?? {};
  }

  /** Null once the runner is up, else why the boot failed. */
  bootOutcome(bootId: string): Promise<string | null> | undefined {
    return this.#boots.get(bootId)?.outcome;
  }

  isLive(runnerId: string): boolean {
    const entry = this.#runners.get(runnerId);
    return entry !== undefined && !entry.down;
  }

  boot(bootId: string, runnerId: string, isMin: boolean, deadlineMs: number): void {
    let settle: (error: string | null) => void = () => {};
    const outcome = new Promise<string | null>((resolve) => {
      settle = resolve;
    });
    const entry: BootEntry = {
      bootId,
      runnerId,
      isMin,
      startedAtMs: this.#d.clock.nowMs(),
      abort: new AbortController(),
      abandoned: false,
      meta: {},
      outcome,
      settle,
    };
    this.#boots.set(bootId, entry);
    const task = this.#runBoot(entry, deadlineMs);
    this.#bootTasks.add(task);
    void task.finally(() => this.#bootTasks.delete(task));
  }

  /** Resolves once every boot task has unwound (after stop, each aborted one ends promptly). */
  async bootsSettled(): Promise<void> {
    while (this.#bootTasks.size > 0) await Promise.all([...this.#bootTasks]);
  }

  /**
   * Resolves once every runner this fleet started has exited (its process, container or
   * Machine is gone, not only its link), or after `boundMs` on the host's clock, whichever
   * comes first: a backend that never confirms an exit must not make `stop()` hang.
   */
  async exitsSettled(boundMs: number): Promise<void> {
    const exits = [...this.#runners.values()].map((entry) => entry.booted.exited);
    if (exits.length === 0) return;
    let timer: unknown = null;
    const bound = new Promise<void>((resolve) => {
      timer = this.#d.clock.setTimer(this.#d.clock.nowMs() + boundMs, resolve);
    });
    await Promise.race([Promise.all(exits), bound]);
    this.#d.clock.clearTimer(timer);
  }

  /** The core gave up on this boot: abort the backend call; a runner that comes up is stopped. */
  abortBoot(bootId: string, reason: string): void {
    const entry = this.#boots.get(bootId);
    if (entry === undefined) return;
    entry.abandoned = true;
    entry.abort.abort(new FlameError("BOOT_FAILED", reason));
  }

  shutdown(runnerId: string, reason: string, timeoutMs: number): void {
    const entry = this.#runners.get(runnerId);
    if (entry === undefined || entry.down) return;
    entry.shutdownSpan ??= startShutdownSpan(this.#d.pool, runnerId, reason);
    try {
      entry.conn.shutdown(reason, timeoutMs);
    } catch (error) {
      this.#d.log("warn", `asking ${runnerId} to shut down failed`, { error: String(error) });
    }
  }

  /** Ends a runner through its backend; its exit comes back as `runnerDown`. */
  kill(runnerId: string, reason: string, by: "pool" | "operator"): boolean {
    const entry = this.#runners.get(runnerId);
    if (entry === undefined || entry.down) return false;
    entry.killedBy = by;
    this.#d.log("warn", `killing runner ${runnerId}: ${reason}`);
    entry.conn.terminate(reason);
    void entry.booted.stop().catch(() => {});
    return true;
  }

  /** The core forgot a runner whose exit was never reported (a hung backend). */
  abandon(runnerId: string, reason: string): void {
    const entry = this.#runners.get(runnerId);
    if (entry === undefined) return;
    this.#gone(entry, reason, null, false);
    this.#runners.delete(runnerId);
  }

  async #runBoot(b: BootEntry, deadlineMs: number): Promise<void> {
    const signal = b.abort.signal;
    let bootCall: Promise<BootedRunner> | null = null;
    let booted: BootedRunner | null = null;
    let hello: Promise<LinkConnection> | null = null;
    try {
      const server = await untilAborted(this.#d.server(), signal);
      const token = generateToken();
      const env = {
        FLAME_PARENT: encodeParentDescriptor({
          url: server.url,
          token,
          runnerId: b.runnerId,
          pool: this.#d.pool,
          protocol: PROTOCOL_VERSION,
          idleShutdownAfterMs: null,
          ...this.#d.descriptor,
          ...(server.tlsCertSha256 == null ? {} : { tlsCertSha256: server.tlsCertSha256 }),
        }),
        ...runnerInfoEnv({
          pool: this.#d.pool,
          runnerId: b.runnerId,
          backend: this.#d.backend.name,
          parentId,
          parentUrl: server.url,
        }),
      };
      hello = server.expect(b.runnerId, token, signal);
      hello.catch(() => {});
      bootCall = this.#d.backend.boot({
        runnerId: b.runnerId,
        poolName: this.#d.pool,
        parentId,
        env,
        signal,
        // Backends work in wall-clock ms; the core's deadline is on the host's monotonic clock.
        deadlineMs: Math.ceil(Date.now() + (deadlineMs - this.#d.clock.nowMs())),
        log: this.#d.log,
      });
      booted = await untilAborted(bootCall, signal);
      b.meta = { ...booted.meta };
      const exitedEarly = booted.exited.then((e) => {
        throw new FlameError(
          "BOOT_FAILED",
          `runner ${b.runnerId} exited before saying hello (code ${e.code}): ${e.reason}`,
          // Refused (another protocol version, a parent that did not prove itself, a TLS
          // certificate other than the pinned one): the next runner would be refused the same.
          {
            permanent: e.code === RUNNER_EXIT.BAD_CONFIG || e.code === RUNNER_EXIT.REFUSED,
            runnerId: b.runnerId,
          },
        );
      });
      exitedEarly.catch(() => {});
      const conn: LinkConnection = await untilAborted(Promise.race([hello, exitedEarly]), signal);
      if (b.abandoned) {
        // The hello won a race with the core's abortBoot: the core no longer wants it.
        conn.terminate("boot abandoned");
        throw new FlameError("BOOT_FAILED", "boot abandoned");
      }
      this.#boots.delete(b.bootId);
      this.#addRunner(b, conn, booted);
      b.settle(null);
    } catch (error) {
      b.abort.abort(error);
      // The runner may have connected before the boot failed (its hello raced the failure):
      // that link belongs to no runner entry, so close it here or nobody will.
      void hello?.then(
        (conn) => conn.terminate("its boot failed"),
        () => {},
      );
      if (booted !== null) {
        void booted.stop().catch(() => {});
      } else if (bootCall !== null) {
        // The backend may still finish after we gave up: end what it started.
        void bootCall.then(
          (late) => late.stop().catch(() => {}),
          () => {},
        );
      }
      // Given up on (the core's boot deadline, a stop): the link's own error says more when the
      // runner was still loading its entry module (protocol 8), so that error is the message.
      const linkError = b.abandoned
        ? await hello?.then(
            () => null,
            (e: unknown) => e,
          )
        : null;
      const message = bootFailureMessage(
        isFlameError(linkError) ? linkError : error,
        this.#d.backend.name,
      );
      this.#boots.delete(b.bootId);
      const permanent = isFlameError(error) && error.permanent;
      // An abandoned boot is already failed in the core (growEnd carries why).
      if (!b.abandoned)
        this.#d.dispatch({ type: "bootFailed", bootId: b.bootId, error: message, permanent });
      b.settle(message);
    }
  }

  /**
   * The runner said hello: it joins the fleet and the core hears `bootSucceeded`. A link that
   * closed in between (the hello reached us just before the close) is a failed boot instead:
   * the core never learns of a runner that is already gone.
   */
  #addRunner(b: BootEntry, conn: LinkConnection, booted: BootedRunner): void {
    const entry: RunnerEntry = {
      id: b.runnerId,
      conn,
      booted,
      meta: { ...booted.meta },
      down: false,
      shutdownSpan: null,
      killedBy: null,
    };
    let known = false;
    let closedFirst: string | null = null;
    let leavingFirst: string | null = null;
    conn.attach({
      closed: (reason) => {
        if (!known) closedFirst = reason;
        else this.#linkClosed(entry, reason);
      },
      leaving: (reason) => {
        if (!known) leavingFirst = reason;
        else this.#d.dispatch({ type: "runnerLeaving", runnerId: entry.id, reason });
      },
      released: (group, index, outcome) => this.#d.released(entry.id, group, index, outcome),
    });
    if (closedFirst !== null) {
      throw new FlameError(
        "BOOT_FAILED",
        `runner ${b.runnerId}'s link closed right after its hello: ${closedFirst}`,
        { runnerId: b.runnerId },
      );
    }
    known = true;
    this.#runners.set(entry.id, entry);
    void booted.exited.then((exit) => {
      this.#gone(entry, `runner exited (code ${exit.code}): ${exit.reason}`, exit.code, true);
      this.#runners.delete(entry.id);
    });
    this.#d.emit({
      type: "runnerUp",
      runnerId: entry.id,
      isMin: b.isMin,
      meta: entry.meta,
      bootMs: this.#d.clock.nowMs() - b.startedAtMs,
    });
    this.#d.dispatch({ type: "bootSucceeded", bootId: b.bootId, threads: conn.threads });
    if (leavingFirst !== null) {
      this.#d.dispatch({ type: "runnerLeaving", runnerId: entry.id, reason: leavingFirst });
    }
  }

  #linkClosed(entry: RunnerEntry, reason: string): void {
    this.#gone(entry, `link closed: ${reason}`, null, true);
    // An agent exits when its link drops; make sure of it.
    void entry.booted.stop().catch(() => {});
  }

  #gone(entry: RunnerEntry, reason: string, exitCode: number | null, report: boolean): void {
    if (entry.down) return;
    entry.down = true;
    this.#d.log("info", `runner ${entry.id} down: ${reason}`, {
      requestsInFlight: entry.conn.inflight,
    });
    const byOperator = entry.killedBy === "operator";
    // Asked to leave by the pool, or killed by an operator: not a crash.
    const expected = entry.shutdownSpan !== null || byOperator;
    entry.shutdownSpan?.end(
      entry.killedBy === "pool"
        ? { ok: false, errorCode: "TIMEOUT", message: "killed after shutdownTimeout" }
        : { ok: true },
    );
    entry.shutdownSpan = null;
    this.#d.emit({
      type: "runnerDown",
      runnerId: entry.id,
      reason,
      exitCode,
      expected,
      ...(byOperator ? { cause: "operator" as const } : {}),
    });
    if (report) this.#d.dispatch({ type: "runnerDown", runnerId: entry.id, reason });
  }
}

function bootFailureMessage(error: unknown, backend: string): string {
  if (error instanceof Error) {
    return isFlameError(error) ? error.message : `${backend} backend: ${error.message}`;
  }
  return `${backend} backend: ${String(error)}`;
}
