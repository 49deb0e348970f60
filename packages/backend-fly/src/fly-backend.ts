/**
 * FlyBackend: one runner per Fly Machine.
 *
 * boot = create a Machine (auto_destroy, restart "no", metadata naming pool/runner/parent, env
 * FLAME_PARENT) with retries inside the boot deadline. The agent dials the parent itself; we
 * never poll for "started" (as FLAME). A runner that exits stops its Machine and Fly destroys
 * it (auto_destroy), so `exited` watches for `stopped` with the long-poll `wait` endpoint.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  FlameError,
  type RunnerExit,
} from "@flame-ts/pool-core";
import { FlyApiError, FlyMachinesClient } from "./client.js";
import { type CreateMachineRequest, FLAME_METADATA, type Machine } from "./machines-api.js";
import { type FlyBackendOptions, type ResolvedFlyOptions, resolveFlyOptions } from "./options.js";
import { type ReapOptions, type ReapResult, reapOrphans } from "./reaper.js";
import { backoffDelayMs, DEFAULT_BACKOFF, RETRYABLE_STATUSES } from "./retry.js";

/** Seconds per `wait` long-poll; Fly's default (and our bound) is 60. */
const WAIT_POLL_SECONDS = 60;

export class FlyBackend implements Backend {
  readonly name = "fly";
  readonly options: ResolvedFlyOptions;
  readonly client: FlyMachinesClient;
  /** Parent ids this process booted runners for; the reaper never touches them. */
  readonly #ownParentIds = new Set<string>();

  constructor(options: FlyBackendOptions = {}) {
    this.options = resolveFlyOptions(options);
    this.client = new FlyMachinesClient({
      apiUrl: this.options.apiUrl,
      token: this.options.token,
      app: this.options.app,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    this.#ownParentIds.add(req.parentId);
    const machine = await this.#createWithinDeadline(req);
    return new FlyRunner(this.client, machine, this.options.stopTimeoutMs);
  }

  /**
   * Destroys runner Machines whose parent is gone. Call it at parent start-up (after a crash or
   * deploy, the old parent's runners may still be up until their failsafe fires) and, if you
   * like, on a slow interval. Never touches this process's own runners.
   */
  reapOrphans(options: ReapOptions = {}): Promise<ReapResult> {
    return reapOrphans(this.client, {
      ...options,
      ownParentIds: new Set([...this.#ownParentIds, ...(options.ownParentIds ?? [])]),
    });
  }

  /** The create request body for a runner (exposed for tests and debugging). */
  createRequest(
    req: Pick<BootRequest, "runnerId" | "poolName" | "parentId" | "env">,
  ): CreateMachineRequest {
    const o = this.options;
    return {
      name: machineName(o.namePrefix, req.runnerId),
      ...(o.region ? { region: o.region } : {}),
      config: {
        image: o.image,
        auto_destroy: true,
        restart: { policy: "no" },
        guest: {
          cpu_kind: o.guest.cpuKind,
          cpus: o.guest.cpus,
          memory_mb: o.guest.memoryMb,
          ...(o.guest.gpuKind ? { gpu_kind: o.guest.gpuKind } : {}),
          ...(o.guest.gpus ? { gpus: o.guest.gpus } : {}),
        },
        env: { ...o.env, ...req.env },
        metadata: {
          ...o.metadata,
          [FLAME_METADATA.pool]: req.poolName,
          [FLAME_METADATA.runner]: req.runnerId,
          [FLAME_METADATA.parent]: req.parentId,
          ...(o.parentMachineId ? { [FLAME_METADATA.parentMachine]: o.parentMachineId } : {}),
        },
        ...(o.init ? { init: o.init } : {}),
        ...(o.services ? { services: [...o.services] } : {}),
      },
    };
  }

  async #createWithinDeadline(req: BootRequest): Promise<Machine> {
    const body = this.createRequest(req);
    let lastError: FlyApiError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (req.signal.aborted) throw bootAborted(req, lastError);
      try {
        return await this.#createOnce(body, req);
      } catch (error) {
        if (!(error instanceof FlyApiError)) throw error;
        lastError = error;
        if (isCapacityError(error))
          throw new FlameError(
            "BOOT_FAILED",
            `Fly has no capacity for this Machine (HTTP ${error.status}): ${error.flyMessage}. Try another region or a smaller guest.`,
            { cause: error, runnerId: req.runnerId },
          );
        if (!RETRYABLE_STATUSES.has(error.status)) throw bootFailed(req, error);
        const delayMs = backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random(), error.retryAfterMs);
        if (Date.now() + delayMs >= req.deadlineMs)
          throw new FlameError(
            "BOOT_FAILED",
            `Fly kept refusing to create the runner Machine until the boot deadline (${attempt} attempts); last answer HTTP ${error.status}: ${error.flyMessage}`,
            { cause: error, runnerId: req.runnerId },
          );
        try {
          await sleep(delayMs, undefined, { signal: req.signal });
        } catch {
          throw bootAborted(req, lastError);
        }
      }
    }
  }

  /**
   * One create. The request is not cancelled by the boot signal: a create cut off mid-flight
   * may still make a Machine. Instead, when the boot is abandoned first, the Machine that comes
   * back is destroyed so nothing is left billing.
   */
  #createOnce(body: CreateMachineRequest, req: BootRequest): Promise<Machine> {
    const created = this.client.createMachine(body, { queueSignal: req.signal });
    return new Promise<Machine>((resolve, reject) => {
      const onAbort = () => {
        reject(bootAborted(req, undefined));
        created.then(
          (machine) => this.client.destroyMachine(machine.id, true).catch(() => undefined),
          () => undefined,
        );
      };
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener("abort", onAbort, { once: true });
      created.then(
        (machine) => {
          req.signal.removeEventListener("abort", onAbort);
          resolve(machine);
        },
        (error: unknown) => {
          req.signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }
}

/** A created runner Machine. */
class FlyRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly #client: FlyMachinesClient;
  readonly #machine: Machine;
  readonly #stopTimeoutMs: number;
  readonly #watch = new AbortController();
  #settle!: (exit: RunnerExit) => void;
  #stopping: Promise<void> | undefined;

  constructor(client: FlyMachinesClient, machine: Machine, stopTimeoutMs: number) {
    this.#client = client;
    this.#machine = machine;
    this.#stopTimeoutMs = stopTimeoutMs;
    this.meta = {
      machineId: machine.id,
      machineName: machine.name,
      region: machine.region,
      privateIp: machine.private_ip,
      instanceId: machine.instance_id,
    };
    this.exited = new Promise<RunnerExit>((resolve) => {
      this.#settle = (exit) => {
        this.#watch.abort();
        resolve(exit);
      };
    });
    void this.#watchUntilStopped();
  }

  /** Stop (SIGINT, then SIGKILL after a bound), then force-destroy if still there. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAndDestroy();
    return this.#stopping;
  }

  async #stopAndDestroy(): Promise<void> {
    const id = this.#machine.id;
    const signal = AbortSignal.timeout(this.#stopTimeoutMs);
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
          `Could not destroy Fly Machine ${id} within ${this.#stopTimeoutMs} ms (${describe(error)}); destroy it with \`fly machine destroy --force ${id}\`.`,
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
        if (stopped) return this.#settle(await this.#exitOf(id));
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

  /** Reads the exit code from the Machine's events when Fly still has them. */
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

/** Runs a Machines API call again on 429/409/412/422 until it succeeds or `signal` aborts. */
async function retrying<T>(action: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (
        !(error instanceof FlyApiError) ||
        !RETRYABLE_STATUSES.has(error.status) ||
        signal.aborted
      )
        throw error;
      await sleep(
        backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random(), error.retryAfterMs),
        undefined,
        { signal },
      );
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isGone(error: unknown): boolean {
  return error instanceof FlyApiError && error.status === 404;
}

/** Fly's capacity refusals ("aborted: insufficient resources …", "aborted: no capacity"). */
export function isCapacityError(error: FlyApiError): boolean {
  return /insufficient (resources|memory|cpus?|ips)|no capacity|could not reserve resource/i.test(
    error.flyMessage,
  );
}

function bootFailed(req: BootRequest, error: FlyApiError): FlameError {
  return new FlameError("BOOT_FAILED", `Could not create the runner Machine: ${error.message}`, {
    cause: error,
    runnerId: req.runnerId,
  });
}

function bootAborted(req: BootRequest, last: FlyApiError | undefined): FlameError {
  const after = last ? ` (last Fly answer HTTP ${last.status}: ${last.flyMessage})` : "";
  return new FlameError(
    "BOOT_FAILED",
    `Boot of runner ${req.runnerId} was abandoned before its Machine was created${after}.`,
    {
      ...(last ? { cause: last } : {}),
      runnerId: req.runnerId,
    },
  );
}

/** Fly Machine names: lowercase letters, digits and dashes; keep it short and unique. */
export function machineName(prefix: string, runnerId: string): string {
  const safe = runnerId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `${prefix}-${safe}`.slice(0, 63).replace(/-+$/, "");
}
