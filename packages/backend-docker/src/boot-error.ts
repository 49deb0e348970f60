/**
 * Why a Docker boot failed, as a BOOT_FAILED the pool can act on. `permanent` tells the pool
 * whether retrying could help: a missing image or a configuration the daemon refuses fails
 * the waiting callers at once; an unreachable daemon, a timeout or a daemon-side hiccup is
 * transient and retried.
 */
import { type BootRequest, FlameError } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import {
  describeDaemonEndpoint,
  dockerMessage,
  dockerStatus,
  isDaemonUnreachable,
  isNoSuchImage,
} from "./docker-errors.js";

export type BootStep =
  | "preparing the network"
  | "checking the image"
  | "pulling the image"
  | "creating the container"
  | "starting the container";

export function bootError(
  error: unknown,
  ctx: { req: BootRequest; signal: AbortSignal; step: BootStep; image: string; docker: Dockerode },
): FlameError {
  const { req, signal, step, image } = ctx;
  const transient = { cause: error, runnerId: req.runnerId };
  const permanent = { ...transient, permanent: true };
  if (signal.aborted) {
    const why = req.signal.aborted
      ? `the boot was aborted (${dockerMessage(req.signal.reason)})`
      : `the boot deadline passed`;
    return new FlameError(
      "BOOT_FAILED",
      `Docker runner ${req.runnerId}: ${why} while ${step}.`,
      transient,
    );
  }
  if (isDaemonUnreachable(error)) {
    const endpoint = describeDaemonEndpoint(ctx.docker.modem as object);
    return new FlameError(
      "BOOT_FAILED",
      `Docker daemon unreachable at ${endpoint} (${dockerMessage(error)}) while ${step}. Is dockerd running, and does the \`docker\` option point at it?`,
      transient,
    );
  }
  if (isNoSuchImage(error)) {
    return new FlameError(
      "BOOT_FAILED",
      `Docker image "${image}" is not available (${dockerMessage(error)}). Build or load it on the Docker host first, or set pull: "missing" to pull it.`,
      permanent,
    );
  }
  if (isRefusedConfig(error)) {
    return new FlameError(
      "BOOT_FAILED",
      `Docker refused the runner container's configuration while ${step}: ${dockerMessage(error)}. Fix the DockerBackend options (network, memoryMb, cpus, pidsLimit, capAdd, env).`,
      permanent,
    );
  }
  return new FlameError(
    "BOOT_FAILED",
    `Docker runner ${req.runnerId}: ${step} failed: ${dockerMessage(error)}`,
    transient,
  );
}

/**
 * 400 (a bad parameter: more CPUs than the host has, an unknown capability, an entrypoint the
 * image lacks) and a 404 naming a network that does not exist come back the same on every
 * retry. Other 404s (the container removed behind our back) and 5xx are not the config's fault.
 */
function isRefusedConfig(error: unknown): boolean {
  const status = dockerStatus(error);
  if (status === 400) return true;
  return status === 404 && /network .*not found/i.test(dockerMessage(error));
}
