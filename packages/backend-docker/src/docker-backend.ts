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
 */
import type { Backend, BootedRunner, BootRequest, RunnerExit } from "@flame-ts/pool-core";
import { FlameError } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import {
  describeDaemonEndpoint,
  dockerMessage,
  isDaemonUnreachable,
  isGoneOrBusy,
  isNoSuchImage,
} from "./docker-errors.js";
import { containerName, currentParentIdentity, runnerLabels } from "./labels.js";
import { LogTail } from "./log-tail.js";
import {
  type DockerBackendOptions,
  type ResolvedDockerBackendOptions,
  resolveDockerBackendOptions,
} from "./options.js";
import { ownParentIds } from "./own-parents.js";
import { type ReapOrphansOptions, type ReapReport, reapOrphans } from "./reaper.js";

/** After a kill, how long `stop()` waits for the daemon to report the exit before giving up. */
const STOP_CONFIRM_TIMEOUT_MS = 15_000;

type BootStep =
  | "checking the image"
  | "pulling the image"
  | "creating the container"
  | "starting the container";

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
      AbortSignal.timeout(Math.max(0, req.deadlineMs - Date.now())),
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
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: {
          ...options.labels,
          ...runnerLabels(currentParentIdentity(req.parentId), req.poolName, req.runnerId),
        },
        HostConfig: {
          NetworkMode: options.network,
          AutoRemove: options.autoRemove,
          ...(options.memoryBytes === null ? {} : { Memory: options.memoryBytes }),
          ...(options.nanoCpus === null ? {} : { NanoCpus: options.nanoCpus }),
        },
      });
      container = await raceAbort(creating, signal, (late) => forceRemove(late));
      step = "starting the container";
      const logs = await LogTail.attach(docker, container, signal);
      // Registered before start, like `docker run`: with AutoRemove the container may be gone
      // by the time a later wait would ask. "removed" still reports the exit code.
      const waited = container.wait({ condition: options.autoRemove ? "removed" : "next-exit" });
      try {
        await container.start({ abortSignal: signal });
      } catch (error) {
        logs.close();
        waited.catch(() => {});
        throw error;
      }
      return new DockerRunner(container, name, options, waited, logs);
    } catch (error) {
      if (container !== undefined) await forceRemove(container);
      throw bootError(error, { req, signal, step, image: options.image, docker });
    }
  }

  /**
   * Removes containers left by parents that are gone. Parents that booted runners through
   * this process are never reaped. See `reapOrphans` for how liveness is decided.
   */
  reapOrphans(options: Omit<ReapOrphansOptions, "docker"> = {}): Promise<ReapReport> {
    return reapOrphans({ ...options, docker: this.#options.docker });
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

class DockerRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly #container: Dockerode.Container;
  readonly #autoRemove: boolean;
  #stopRequested = false;
  #stopping: Promise<void> | null = null;

  constructor(
    container: Dockerode.Container,
    name: string,
    options: ResolvedDockerBackendOptions,
    waited: Promise<{ StatusCode?: number; Error?: { Message?: string } | null }>,
    logs: LogTail,
  ) {
    this.#container = container;
    this.#autoRemove = options.autoRemove;
    this.meta = {
      containerId: container.id.slice(0, 12),
      containerName: name,
      image: options.image,
    };
    this.exited = waited.then(
      (result) => {
        const code = typeof result.StatusCode === "number" ? result.StatusCode : null;
        return { code, reason: this.#describeExit(code, logs.lines()) };
      },
      (error: unknown) => ({
        code: null,
        reason: this.#stopRequested
          ? "container stopped by the pool"
          : `lost track of container ${name}: ${dockerMessage(error)}${formatLogs(logs.lines())}`,
      }),
    );
    // The log stream ends with the container; closing makes sure no socket outlives it.
    void this.exited.then(() => logs.close());
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    // The host already asked the agent to drain; whatever is still there is killed.
    const removeOptions = { force: true, v: true };
    try {
      if (this.#autoRemove) await this.#container.kill();
      else await this.#container.remove(removeOptions);
    } catch (error) {
      if (!isGoneOrBusy(error)) {
        // Killing failed for another reason (daemon trouble): try a forced remove once.
        await this.#container.remove(removeOptions).catch(() => {});
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_CONFIRM_TIMEOUT_MS);
      timer.unref();
    });
    await Promise.race([this.exited.then(() => {}), timedOut]);
    clearTimeout(timer);
  }

  #describeExit(code: number | null, lines: string[]): string {
    if (this.#stopRequested) return `container stopped by the pool (exit code ${String(code)})`;
    return `container exited with code ${String(code)}${formatLogs(lines)}`;
  }
}

function formatLogs(lines: string[]): string {
  return lines.length === 0 ? " (no output)" : `; last log lines:\n${lines.join("\n")}`;
}

/**
 * Resolves with `work`, or rejects with the signal's reason if it aborts first; in that case
 * `onLate` receives the value if `work` still succeeds, so nothing it made is leaked.
 */
function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  onLate: (value: T) => Promise<void>,
): Promise<T> {
  if (signal.aborted) {
    void work.then(onLate, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let abandoned = false;
    const onAbort = () => {
      abandoned = true;
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (abandoned) void onLate(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

async function forceRemove(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch {
    // 404: never created or already gone. Anything else: the reaper will find it by label.
  }
}

function bootError(
  error: unknown,
  ctx: { req: BootRequest; signal: AbortSignal; step: BootStep; image: string; docker: Dockerode },
): FlameError {
  const { req, signal, step, image } = ctx;
  const options = { cause: error, runnerId: req.runnerId };
  if (signal.aborted) {
    const why = req.signal.aborted
      ? `the boot was aborted (${dockerMessage(req.signal.reason)})`
      : `the boot deadline passed`;
    return new FlameError(
      "BOOT_FAILED",
      `Docker runner ${req.runnerId}: ${why} while ${step}.`,
      options,
    );
  }
  if (isDaemonUnreachable(error)) {
    const endpoint = describeDaemonEndpoint(ctx.docker.modem as object);
    return new FlameError(
      "BOOT_FAILED",
      `Docker daemon unreachable at ${endpoint} (${dockerMessage(error)}) while ${step}. Is dockerd running, and does the \`docker\` option point at it?`,
      options,
    );
  }
  if (isNoSuchImage(error)) {
    return new FlameError(
      "BOOT_FAILED",
      `Docker image "${image}" is not available (${dockerMessage(error)}). Build or load it on the Docker host first, or set pull: "missing" to pull it.`,
      options,
    );
  }
  return new FlameError(
    "BOOT_FAILED",
    `Docker runner ${req.runnerId}: ${step} failed: ${dockerMessage(error)}`,
    options,
  );
}
