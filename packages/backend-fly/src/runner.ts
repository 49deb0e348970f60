/**
 * A booted runner Machine: watches for its end (`wait?state=stopped`) and stops it on demand.
 *
 * Without a warm pool the Machine has `auto_destroy` and is gone once stopped (a forced
 * destroy covers a Machine that will not stop). With a warm pool the stopped Machine is handed
 * to `retire`, which keeps it for the next boot or destroys it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type BootedRunner, FlameError, type RunnerExit } from "@flame-ts/pool-core";
import { FlyApiError, type FlyMachinesClient } from "./client.js";
import type { Machine } from "./machines-api.js";
import { backoffDelayMs, DEFAULT_BACKOFF, retrying } from "./retry.js";

/** Seconds per `wait` long-poll; Fly's default (and our bound) is 60. */
const WAIT_POLL_SECONDS = 60;

/** How a runner's Machine came to run: started from the warm set, or created. */
export type BootKind = "warm" | "created";

/** What became of a warm runner's Machine once its runner ended. */
export type WarmOutcome =
  | "kept warm"
  | "destroyed"
  | "taken by another parent"
  | "gone"
  | "left as is (Fly error)";

/** The warm pool's side of a runner's end (see warm-pool.ts). */
export interface WarmReturn {
  /** The runner's Machine stopped by itself: keep it for the next boot, or destroy it. */
  retire(machine: Machine): Promise<WarmOutcome>;
  /** `stop()`: stop the Machine under a lease (it is never someone else's by then), then retire it. */
  stopAndRetire(machine: Machine, signal: AbortSignal): Promise<WarmOutcome>;
}

export interface FlyRunnerOptions {
  readonly stopTimeoutMs: number;
  readonly boot: BootKind;
  /** Set for warm pools: the Machine is kept or destroyed by the pool, never auto-destroyed. */
  readonly warm?: WarmReturn;
}

export class FlyRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly #client: FlyMachinesClient;
  readonly #machine: Machine;
  readonly #options: FlyRunnerOptions;
  readonly #watch = new AbortController();
  #settle!: (exit: RunnerExit) => void;
  #stopping: Promise<void> | undefined;
  #retiring: Promise<WarmOutcome> | undefined;

  constructor(client: FlyMachinesClient, machine: Machine, options: FlyRunnerOptions) {
    this.#client = client;
    this.#machine = machine;
    this.#options = options;
    this.meta = {
      machineId: machine.id,
      machineName: machine.name,
      region: machine.region,
      privateIp: machine.private_ip,
      instanceId: machine.instance_id,
      // "warm": started from a stopped Machine; "created": a new Machine (shown by the dashboard).
      boot: options.boot,
    };
    this.exited = new Promise<RunnerExit>((resolve) => {
      this.#settle = (exit) => {
        this.#watch.abort();
        resolve(exit);
      };
    });
    void this.#watchUntilStopped();
  }

  /** Stop (SIGINT, then SIGKILL after a bound), then retire (warm) or destroy. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#options.warm ? this.#stopWarm(this.#options.warm) : this.#stopCold();
    return this.#stopping;
  }

  async #stopWarm(warm: WarmReturn): Promise<void> {
    const id = this.#machine.id;
    // The watcher may already have seen the end: then the Machine is retired (or not ours).
    const outcome = await (this.#retiring ??
      warm.stopAndRetire(this.#machine, AbortSignal.timeout(this.#options.stopTimeoutMs)));
    this.#settle({ code: null, reason: `machine ${id} stopped (${outcome})` });
  }

  async #stopCold(): Promise<void> {
    const id = this.#machine.id;
    const signal = AbortSignal.timeout(this.#options.stopTimeoutMs);
    try {
      await retrying(() => this.#client.stopMachine(id, { timeout: "5s" }, { signal }), signal);
      // Give the stop its few seconds; auto_destroy then removes the Machine by itself.
      await this.#client.waitForState(
        id,
        { state: "stopped", instance_id: this.#machine.instance_id, timeout: 6 },
        { signal },
      );
    } catch (error) {
      if (isGone(error))
        return this.#settle({ code: null, reason: `machine ${id} already destroyed` });
      // A Machine that won't stop is still destroyed by force below.
    }
    try {
      await retrying(() => this.#client.destroyMachine(id, true, { signal }), signal);
    } catch (error) {
      if (!isGone(error))
        throw new FlameError(
          "RUNNER_DOWN",
          `Could not destroy Fly Machine ${id} within ${this.#options.stopTimeoutMs} ms (${describe(error)}); destroy it with \`fly machine destroy --force ${id}\`.`,
          { cause: error },
        );
    }
    this.#settle({ code: null, reason: `machine ${id} stopped and destroyed` });
  }

  /** Long-polls `wait?state=stopped` until the Machine stops or disappears. */
  async #watchUntilStopped(): Promise<void> {
    const id = this.#machine.id;
    const signal = this.#watch.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const stopped = await this.#client.waitForState(
          id,
          { state: "stopped", instance_id: this.#machine.instance_id, timeout: WAIT_POLL_SECONDS },
          { signal },
        );
        failures = 0;
        if (!stopped) continue;
        // stop() settles on its own once it has stopped and retired the Machine.
        if (this.#stopping) return;
        const warm = this.#options.warm;
        if (warm) {
          // Retire at once (a boot of this process waits for it), read the exit code meanwhile.
          this.#retiring ??= warm.retire(this.#machine);
          const [exit, outcome] = await Promise.all([this.#exitOf(id), this.#retiring]);
          return this.#settle({ ...exit, reason: `${exit.reason} (${outcome})` });
        }
        return this.#settle(await this.#exitOf(id));
      } catch (error) {
        if (signal.aborted) return;
        if (isGone(error)) return this.#settle({ code: null, reason: `machine ${id} destroyed` });
        failures++;
        try {
          // Unref'd: an unreachable API must not keep the process alive.
          await sleep(backoffDelayMs(failures, DEFAULT_BACKOFF, Math.random()), undefined, {
            signal,
            ref: false,
          });
        } catch {
          return;
        }
      }
    }
  }

  /** Reads the exit code from the Machine's latest `exit` event when Fly still has it. */
  async #exitOf(id: string): Promise<RunnerExit> {
    try {
      const machine = await this.#client.getMachine(id);
      const exit = machine.events?.find((event) => event.type === "exit");
      const code = exit?.request?.exit_event?.exit_code;
      return { code: typeof code === "number" ? code : null, reason: `machine ${id} stopped` };
    } catch {
      return { code: null, reason: `machine ${id} stopped` };
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isGone(error: unknown): boolean {
  return error instanceof FlyApiError && error.status === 404;
}
