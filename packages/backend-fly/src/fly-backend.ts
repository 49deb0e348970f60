/**
 * FlyBackend: one runner per Fly Machine.
 *
 * boot = start a stopped Machine from the warm pool when one is enabled and free
 * (warm-pool.ts), else create a Machine (restart "no", metadata naming pool/runner/parent, env
 * FLAME_PARENT) with retries inside the boot deadline. The agent dials the parent itself; we
 * never poll for "started" (as FLAME). Without a warm pool a runner's Machine has auto_destroy
 * and is gone once it stops; with one it is kept stopped for reuse (runner.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  FlameError,
  parentId as thisProcessParentId,
  untilAborted,
} from "@flame-ts/pool-core";
import { FlyApiError, FlyMachinesClient } from "./client.js";
import { type CreateMachineRequest, FLAME_METADATA, type Machine } from "./machines-api.js";
import { type FlyBackendOptions, type ResolvedFlyOptions, resolveFlyOptions } from "./options.js";
import { type ReapOptions, type ReapResult, reapOrphans } from "./reaper.js";
import { backoffDelayMs, DEFAULT_BACKOFF, RETRYABLE_STATUSES } from "./retry.js";
import { FlyRunner } from "./runner.js";
import { WarmPool } from "./warm-pool.js";

export class FlyBackend implements Backend {
  readonly name = "fly";
  readonly options: ResolvedFlyOptions;
  readonly client: FlyMachinesClient;
  /** This process (pool-core's parentId) and the parent ids it booted runners for: never reaped. */
  readonly #ownParentIds = new Set<string>([thisProcessParentId]);
  readonly #warm: WarmPool | undefined;

  constructor(options: FlyBackendOptions = {}) {
    this.options = resolveFlyOptions(options);
    this.client = new FlyMachinesClient({
      apiUrl: this.options.apiUrl,
      token: this.options.token,
      app: this.options.app,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
    this.#warm =
      this.options.warmStopped > 0
        ? new WarmPool({
            client: this.client,
            image: this.options.image,
            size: this.options.warmStopped,
          })
        : undefined;
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    this.#ownParentIds.add(req.parentId);
    const warm = this.#warm;
    const stopTimeoutMs = this.options.stopTimeoutMs;
    if (!warm) {
      const machine = await this.#createWithinDeadline(req);
      return new FlyRunner(this.client, machine, { stopTimeoutMs, boot: "created" });
    }
    const returner = warm.returner(req.poolName);
    const started = await warm
      .take(req.poolName, this.createRequest(req), req.signal)
      .catch((error: unknown) => {
        if (req.signal.aborted) throw bootAborted(req, undefined);
        // The warm pool is a shortcut: if Fly will not list or lease, try a create.
        if (error instanceof FlyApiError) return undefined;
        throw error;
      });
    if (started) {
      const runner = new FlyRunner(this.client, started, {
        stopTimeoutMs,
        boot: "warm",
        warm: returner,
      });
      if (!req.signal.aborted) return runner;
      // Abandoned while starting: stop it again (it goes back to the warm set).
      void runner.stop().catch(() => undefined);
      throw bootAborted(req, undefined);
    }
    const machine = await this.#createWithinDeadline(req);
    return new FlyRunner(this.client, machine, { stopTimeoutMs, boot: "created", warm: returner });
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
      keepWarm: options.keepWarm ?? this.#warm !== undefined,
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
        // A warm pool keeps stopped Machines for reuse: Fly must not destroy them on stop.
        auto_destroy: o.warmStopped === 0,
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
          ...(o.parentApp ? { [FLAME_METADATA.parentApp]: o.parentApp } : {}),
          ...(o.parentInstanceId ? { [FLAME_METADATA.parentInstance]: o.parentInstanceId } : {}),
          ...(o.warmStopped > 0 ? { [FLAME_METADATA.warm]: "stopped" } : {}),
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
    return untilAborted(created, req.signal, (machine) =>
      this.client.destroyMachine(machine.id, true),
    ).catch((error: unknown) => {
      throw req.signal.aborted && error === req.signal.reason ? bootAborted(req, undefined) : error;
    });
  }
}

/** Fly's capacity refusals ("aborted: insufficient resources …", "aborted: no capacity"). */
export function isCapacityError(error: FlyApiError): boolean {
  return /insufficient (resources|memory|cpus?|ips)|no capacity|could not reserve resource/i.test(
    error.flyMessage,
  );
}

/**
 * A refusal retrying cannot fix (a 4xx other than the retryable ones: bad config, unknown
 * image, bad token, unknown app) is `permanent`, so the pool fails waiting callers at once;
 * 5xx and network errors are not.
 */
function bootFailed(req: BootRequest, error: FlyApiError): FlameError {
  return new FlameError("BOOT_FAILED", `Could not create the runner Machine: ${error.message}`, {
    cause: error,
    runnerId: req.runnerId,
    permanent: error.status >= 400 && error.status < 500,
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
