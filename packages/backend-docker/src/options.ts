/**
 * DockerBackend options: what a user may set, their defaults, and their validation.
 * Every bad value fails at construction with INVALID_OPTIONS naming the field, so a typo
 * surfaces when the pool is built, not at the first boot.
 */
import { invalidOption } from "@flame-ts/pool-core";
import Dockerode from "dockerode";
import { type ContainerLimits, resolveContainerLimits } from "./container-limits.js";
import { DEFAULT_APP } from "./labels.js";
import { ManagedNetwork } from "./network.js";

/** How to reach the Docker Engine. */
export type DockerConnection =
  | Dockerode
  /** A unix socket, e.g. "/var/run/docker.sock" (the default when DOCKER_HOST is unset). */
  | { readonly socketPath: string }
  /** A TCP endpoint, e.g. { host: "127.0.0.1", port: 2375 }. */
  | { readonly host: string; readonly port?: number; readonly protocol?: "http" | "https" };

export type PullPolicy = "never" | "missing" | "always";

export interface DockerBackendOptions {
  /** Image that runs the runner-agent (see packages/runner-agent/Dockerfile). Required. */
  readonly image: string;
  /** Docker Engine to use. Default: `new Dockerode()` (DOCKER_HOST, else /var/run/docker.sock). */
  readonly docker?: DockerConnection;
  /**
   * Container network. Default: `flame-ts-<app>`, an internal bridge network the backend
   * creates on first use (labelled, reused by every parent of the app) and whose gateway the
   * pool's runner port binds to (unless the pool's `listen.host` is given): runners reach
   * their parent and nothing on the host's loopback (README, "Networking").
   * `"host"` shares the host's network stack: the runner can then reach every service on the
   * host's loopback (databases, the telemetry server, other pools' runner ports) — the unsafe
   * choice, for trusted functions only. Any other value is a Docker network mode or a network
   * you made; then set the pool's `listen` yourself (README, "Your own network").
   */
  readonly network?: string;
  /**
   * Memory limit per container in MiB (integer ≥ 6, Docker's minimum), swap included: the
   * container gets no swap beyond it. `null` lifts the limit. Default 1024.
   */
  readonly memoryMb?: number | null;
  /**
   * CPU limit per container (Docker `--cpus`, a CFS quota), e.g. 0.5 or 2. The runner-agent
   * sizes its worker threads from this quota. `null` (the default): no limit, every host CPU.
   */
  readonly cpus?: number | null;
  /**
   * Most processes and threads the container may hold at once (a fork bomb stops here), an
   * integer ≥ 32 (node alone needs about a dozen threads). `null` lifts it. Default 512.
   */
  readonly pidsLimit?: number | null;
  /**
   * Linux capabilities given back to the container, e.g. ["NET_BIND_SERVICE"]. Every
   * capability is dropped otherwise (`CapDrop: ["ALL"]`). Default [] (none). They are
   * effective for a root user only (`user: null` on an image without `USER`, or "0"); a
   * non-root runner starts without any.
   */
  readonly capAdd?: readonly string[];
  /**
   * User (and group) the runner runs as, e.g. "1000:1000" or "node" (Docker `--user`).
   * Default: never root. The image's `USER` when it names a non-root user (an image built
   * for it, like runner-agent's Dockerfile: 1000), else "65534:65534" (nobody:nogroup, owner
   * of none of the image's files). `null`: the image's own `USER`, root included.
   */
  readonly user?: string | null;
  /**
   * The app scope, written as the `flame-ts.app` label: `reapOrphans({ app })` only ever
   * considers containers of its own app, so two apps sharing a daemon never reap each other's
   * runners. Letters, digits, '_', '.', '-' (not first), up to 63. Default "default".
   */
  readonly app?: string;
  /** Extra environment for the runner (FLAME_PARENT is set by the pool and may not be given). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra container labels. Keys under "flame-ts." are reserved. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Container names are `${namePrefix}${runnerId}`. Default "flame-". */
  readonly namePrefix?: string;
  /**
   * When to pull `image`: "never" (default: the image must already be on the Docker host),
   * "missing" (pull if absent), "always" (pull before every boot).
   */
  readonly pull?: PullPolicy;
  /**
   * Let the Docker daemon remove a container when it exits. Default true: containers left by a
   * parent that died also disappear once their runner-agent's failsafe makes them exit.
   */
  readonly autoRemove?: boolean;
}

export interface ResolvedDockerBackendOptions {
  readonly image: string;
  readonly docker: Dockerode;
  /** Docker's NetworkMode; `managed` is set when it is the backend's own network. */
  readonly network: string;
  readonly managed: ManagedNetwork | null;
  readonly limits: ContainerLimits;
  readonly app: string;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  readonly pull: PullPolicy;
  readonly autoRemove: boolean;
}

const PULL_POLICIES: readonly PullPolicy[] = ["never", "missing", "always"];
const NAME_PREFIX = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*)?$/;
const ENV_NAME = /^[^=\0]+$/;
const RESERVED_LABEL_PREFIX = "flame-ts.";

export function resolveDockerBackendOptions(
  options: DockerBackendOptions,
): ResolvedDockerBackendOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("options", "an object with at least `image`", options);
  }
  const { image } = options;
  if (typeof image !== "string" || image.trim() === "") {
    throw invalidOption("image", 'a non-empty image reference, e.g. "flame-ts/runner:1"', image);
  }
  const { network } = options;
  if (network !== undefined && (typeof network !== "string" || network === "")) {
    throw invalidOption(
      "network",
      'a Docker network name or mode such as "host", or unset for the backend\'s own network',
      network,
    );
  }
  const env = stringRecord("env", options.env ?? {});
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) throw invalidOption(`env.${key}`, "a name without '='", key);
    if (key === "FLAME_PARENT") {
      throw invalidOption("env.FLAME_PARENT", "to be left unset (the pool sets it)", env[key]);
    }
  }
  const labels = stringRecord("labels", options.labels ?? {});
  for (const key of Object.keys(labels)) {
    if (key.startsWith(RESERVED_LABEL_PREFIX)) {
      throw invalidOption(`labels.${key}`, `a key outside "${RESERVED_LABEL_PREFIX}*"`, key);
    }
  }
  const namePrefix = options.namePrefix ?? "flame-";
  if (typeof namePrefix !== "string" || !NAME_PREFIX.test(namePrefix)) {
    throw invalidOption("namePrefix", "letters, digits, '_', '.', '-' (not first)", namePrefix);
  }
  const pull = options.pull ?? "never";
  if (!PULL_POLICIES.includes(pull)) {
    throw invalidOption("pull", '"never", "missing" or "always"', pull);
  }
  const autoRemove = options.autoRemove ?? true;
  if (typeof autoRemove !== "boolean") throw invalidOption("autoRemove", "a boolean", autoRemove);

  const docker = resolveDocker(options.docker);
  const app = validateApp(options.app ?? DEFAULT_APP);
  const managed = network === undefined ? new ManagedNetwork(docker, app, labels) : null;
  return {
    image,
    docker,
    network: managed?.name ?? network ?? "",
    managed,
    limits: resolveContainerLimits(options),
    app,
    env,
    labels,
    namePrefix,
    pull,
    autoRemove,
  };
}

const APP = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** The app scope label value; shared by DockerBackend and reapOrphans. */
export function validateApp(app: unknown): string {
  if (typeof app !== "string" || !APP.test(app)) {
    throw invalidOption("app", "letters, digits, '_', '.', '-' (not first), 1–63 characters", app);
  }
  return app;
}

export function resolveDocker(docker: DockerConnection | undefined): Dockerode {
  if (docker === undefined) return new Dockerode();
  if (typeof docker !== "object" || docker === null) {
    throw invalidOption("docker", "a Dockerode instance, { socketPath } or { host, port }", docker);
  }
  // Duck-typed: a Dockerode from another copy of the package is just as good.
  if (isDockerode(docker)) return docker;
  if ("socketPath" in docker) {
    if (typeof docker.socketPath !== "string" || docker.socketPath === "") {
      throw invalidOption("docker.socketPath", "a non-empty path", docker.socketPath);
    }
    return new Dockerode({ socketPath: docker.socketPath });
  }
  if ("host" in docker) {
    if (typeof docker.host !== "string" || docker.host === "") {
      throw invalidOption("docker.host", "a non-empty host name", docker.host);
    }
    const port = docker.port ?? 2375;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidOption("docker.port", "a TCP port (1–65535)", docker.port);
    }
    const protocol = docker.protocol ?? "http";
    if (protocol !== "http" && protocol !== "https") {
      throw invalidOption("docker.protocol", '"http" or "https"', docker.protocol);
    }
    return new Dockerode({ host: docker.host, port, protocol });
  }
  throw invalidOption("docker", "a Dockerode instance, { socketPath } or { host, port }", docker);
}

function isDockerode(value: object): value is Dockerode {
  const v = value as Partial<Dockerode>;
  return typeof v.createContainer === "function" && typeof v.getContainer === "function";
}

function stringRecord(field: string, value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption(field, "an object of string values", value);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw invalidOption(`${field}.${key}`, "a string", v);
  }
  return { ...(value as Record<string, string>) };
}
