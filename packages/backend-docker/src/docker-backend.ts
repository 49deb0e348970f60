/**
 * DockerBackend: each runner is one container of `image`, started with FLAME_PARENT in its
 * environment; the runner-agent inside dials the pool's listener. By default the container
 * sits on the backend's own internal bridge network (network.ts) and the pool listens on that
 * bridge's gateway (`listenHost`), so a runner reaches its parent and not the host's loopback.
 * `boot()` resolves once the container has started; the pool's host then waits for the
 * agent's hello within the same boot deadline.
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
import { IMAGE_USER_UNLESS_ROOT, limitsHostConfig, userFor } from "./container-limits.js";
import { isNoSuchImage } from "./docker-errors.js";
import { DockerRunner } from "./docker-runner.js";
import { containerName, runnerLabels } from "./labels.js";
import { LogTail } from "./log-tail.js";
import { isNetworkNotFound } from "./network.js";
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
  /** The image's `USER`, read on the first boot that needs it (#containerUser). */
  #imageUser: Promise<string> | null = null;

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

  /**
   * Where the pool's runner port binds (asked by the pool when its `listen.host` is not
   * given): the gateway of the backend's own network, created if needed; `null` (the pool's
   * 127.0.0.1) with `network: "host"` or a network the user named.
   */
  async listenHost(): Promise<string | null> {
    const { managed } = this.#options;
    return managed === null ? null : (await managed.ensure()).gateway;
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
      if (options.managed !== null) {
        step = "preparing the network";
        await untilAborted(options.managed.ensure(), signal);
      }
      if (options.pull === "always" || (options.pull === "missing" && !(await this.#hasImage()))) {
        step = "pulling the image";
        await this.#pull(signal);
      }
      step = "checking the image";
      const user = await untilAborted(this.#containerUser(), signal);
      const config = this.#containerConfig(req, name, user);
      // Twice at most: once more when the backend's own network was removed while idle
      // (`docker network prune`, the reaper); it is made again on the same subnet, so the
      // address the pool's runner port is bound to stays right.
      for (let attempt = 1; ; attempt++) {
        try {
          step = "creating the container";
          // No abortSignal on the request: a create aborted mid-flight may still complete
          // inside the daemon, and its container would be missed. Race it instead and, if the
          // boot gives up first, remove whatever the create produces.
          container = await untilAborted(docker.createContainer(config), signal, forceRemove);
          step = "starting the container";
          const logs = await LogTail.attach(docker, container, signal);
          // Registered before start, like `docker run`: with AutoRemove the container may be
          // gone by the time a later wait would ask. "removed" still reports the exit code.
          const waited = container.wait({
            condition: options.autoRemove ? "removed" : "next-exit",
          });
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
          // Docker 20.10 accepts a missing network at create and refuses it at start.
          if (attempt > 1 || options.managed === null || !isNetworkNotFound(error)) throw error;
          if (container !== undefined) await forceRemove(container);
          container = undefined;
          step = "preparing the network";
          await untilAborted(options.managed.recreate(), signal);
        }
      }
    } catch (error) {
      if (container !== undefined) await forceRemove(container);
      throw bootError(error, { req, signal, step, image: options.image, docker });
    }
  }

  /** `User` for the container (userFor); the image's `USER` is read once, when it matters. */
  #containerUser(): Promise<string | undefined> {
    const { limits, docker, image } = this.#options;
    if (limits.user !== IMAGE_USER_UNLESS_ROOT) return Promise.resolve(userFor(limits, ""));
    if (this.#imageUser === null) {
      const reading = docker
        .getImage(image)
        .inspect()
        .then(
          (info) => info.Config?.User ?? "",
          (error: unknown) => {
            // A missing image fails the create with the proper message; root is assumed.
            if (isNoSuchImage(error)) return "";
            throw error;
          },
        );
      this.#imageUser = reading;
      reading.catch(() => {
        if (this.#imageUser === reading) this.#imageUser = null;
      });
    }
    return this.#imageUser.then((imageUser) => userFor(limits, imageUser));
  }

  #containerConfig(
    req: BootRequest,
    name: string,
    user: string | undefined,
  ): Dockerode.ContainerCreateOptions {
    const options = this.#options;
    const env = { ...options.env, ...req.env };
    return {
      name,
      Image: options.image,
      ...(user === undefined ? {} : { User: user }),
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
    };
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
