/**
 * DockerBackend: each runner is one container of `image`, started with FLAME_PARENT in its
 * environment; the runner-agent inside dials the pool's listener (host networking by
 * default). `boot()` resolves once the container has started; the pool's host then waits for
 * the agent's hello within the same boot deadline.
 *
 * Lifecycle of a container:
 *   create (labelled, named `${namePrefix}${runnerId}`) → attach logs → wait → start → … → exit
 * With `autoRemove` (default) the daemon removes it at exit, so a container whose parent was
 * SIGKILLed disappears as soon as its agent's failsafe makes it exit. `reapOrphans()` removes
 * what is left anyway (a hung agent, `autoRemove: false`).
 *
 * Every container starts without capabilities, with no-new-privileges and with pids/memory
 * (and optional CPU) limits: see container-limits.ts. Its exit is watched by DockerRunner.
 */
import type { Backend, BootedRunner, BootRequest } from "@flame-ts/pool-core";
import { currentParentIdentity, untilAborted } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import { type BootStep, bootError } from "./boot-error.js";
import { limitsHostConfig } from "./container-limits.js";
import { isNoSuchImage } from "./docker-errors.js";
import { DockerRunner } from "./docker-runner.js";
import { containerName, runnerLabels } from "./labels.js";
import { LogTail } from "./log-tail.js";
import {
  type DockerBackendOptions,
  type ResolvedDockerBackendOptions,
  resolveDockerBackendOptions,
} from "./options.js";
import { ownParentIds } from "./own-parents.js";
import { type ReapOrphansOptions, type ReapReport, reapOrphans } from "./reaper.js";

export class DockerBackend implements Backend {
  readonly name = "docker";
  readonly #options: ResolvedDockerBackendOptions;

  constructor(options: DockerBackendOptions) {
    this.#options = resolveDockerBackendOptions(options);
  }

  /** The Dockerode client in use (for tooling and tests). */
  get docker(): Dockerode {
    return this.#options.docker;
  }

  get image(): string {
    return this.#options.image;
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    const options = this.#options;
    const { docker } = options;
    ownParentIds.add(req.parentId);
    const signal = AbortSignal.any([
      req.signal,
      // A deadline need not be a whole number of ms; AbortSignal.timeout wants an integer.
      AbortSignal.timeout(Math.max(0, Math.ceil(req.deadlineMs - Date.now()))),
    ]);
    const name = containerName(options.namePrefix, req.runnerId);
    let step: BootStep = "checking the image";
    let container: Dockerode.Container | undefined;
    try {
      signal.throwIfAborted();
      if (options.pull === "always" || (options.pull === "missing" && !(await this.#hasImage()))) {
        step = "pulling the image";
        await this.#pull(signal);
      }
      step = "creating the container";
      const env = { ...options.env, ...req.env };
      // No abortSignal on the request: a create aborted mid-flight may still complete inside
      // the daemon, and its container would be missed. Race it instead and, if the boot gives
      // up first, remove whatever the create produces.
      const creating = docker.createContainer({
        name,
        Image: options.image,
        ...(options.limits.user === null ? {} : { User: options.limits.user }),
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: {
          ...options.labels,
          ...runnerLabels(currentParentIdentity(req.parentId), {
            app: options.app,
            poolName: req.poolName,
            runnerId: req.runnerId,
          }),
        },
        HostConfig: {
          NetworkMode: options.network,
          AutoRemove: options.autoRemove,
          ...limitsHostConfig(options.limits),
        },
      });
      container = await untilAborted(creating, signal, forceRemove);
      step = "starting the container";
      const logs = await LogTail.attach(docker, container, signal);
      // Registered before start, like `docker run`: with AutoRemove the container may be gone
      // by the time a later wait would ask. "removed" still reports the exit code.
      const waited = container.wait({ condition: options.autoRemove ? "removed" : "next-exit" });
      // A stream that breaks during start is handled by DockerRunner, not reported as unhandled.
      waited.catch(() => {});
      try {
        await container.start({ abortSignal: signal });
      } catch (error) {
        logs.close();
        throw error;
      }
      return new DockerRunner(
        container,
        { name, image: options.image, autoRemove: options.autoRemove },
        waited,
        logs,
      );
    } catch (error) {
      if (container !== undefined) await forceRemove(container);
      throw bootError(error, { req, signal, step, image: options.image, docker });
    }
  }

  /**
   * Removes containers left by parents that are gone. Parents that booted runners through
   * this process are never reaped. See `reapOrphans` for how liveness is decided.
   */
  reapOrphans(options: Omit<ReapOrphansOptions, "docker" | "app"> = {}): Promise<ReapReport> {
    return reapOrphans({ ...options, docker: this.#options.docker, app: this.#options.app });
  }

  async #hasImage(): Promise<boolean> {
    try {
      await this.#options.docker.getImage(this.#options.image).inspect();
      return true;
    } catch (error) {
      if (isNoSuchImage(error)) return false;
      throw error;
    }
  }

  async #pull(signal: AbortSignal): Promise<void> {
    const { docker, image } = this.#options;
    const stream = await docker.pull(image, { abortSignal: signal });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve()));
    });
  }
}

async function forceRemove(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch {
    // 404: never created or already gone. Anything else: the reaper will find it by label.
  }
}
