/**
 * What a runner container may do and use. A runner runs the app's own functions, often on
 * untrusted input (thumbnails of user uploads…), so it starts with nothing it does not need:
 *   - no Linux capabilities (`CapDrop: ["ALL"]`, a few given back only through `capAdd`);
 *   - `no-new-privileges`, so a setuid binary in the image cannot raise them again;
 *   - a non-root user (65534, nobody) unless told otherwise, whatever the image's `USER`;
 *   - a pids limit (fork bombs), a memory limit with no extra swap, an optional CPU quota.
 * The network mode is the other half of the story; see the README's security section.
 */
import { invalidOption } from "@flame-ts/pool-core";

export const DEFAULT_MEMORY_MB = 1024;
export const DEFAULT_PIDS_LIMIT = 512;
/** nobody:nogroup: a uid that owns nothing in the image and holds no privilege. */
export const DEFAULT_USER = "65534:65534";
/** Docker refuses less than 6 MiB. */
const MIN_MEMORY_MB = 6;
/** node itself holds about a dozen threads (main, libuv pool, V8 platform workers). */
const MIN_PIDS_LIMIT = 32;
const CAPABILITY = /^(CAP_)?[A-Z][A-Z_]*$/;
/** "name", "uid", "name:group" or "uid:gid" (Docker's `--user`). */
const USER = /^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$/;

export interface ContainerLimits {
  readonly memoryBytes: number | null;
  readonly nanoCpus: number | null;
  readonly pidsLimit: number | null;
  readonly capAdd: readonly string[];
  /**
   * The user to run as; `null`: the image's own. `"image-unless-root"`: the default, decided
   * per image by `userFor` (the image's `USER` when it names a non-root user, else 65534).
   */
  readonly user: string | null | typeof IMAGE_USER_UNLESS_ROOT;
}

/** `user` left unset: the image's non-root `USER`, else DEFAULT_USER (see `userFor`). */
export const IMAGE_USER_UNLESS_ROOT = Symbol("image user unless root");

export interface ContainerLimitOptions {
  readonly memoryMb?: number | null;
  readonly cpus?: number | null;
  readonly pidsLimit?: number | null;
  readonly capAdd?: readonly string[];
  readonly user?: string | null;
}

export function resolveContainerLimits(options: ContainerLimitOptions): ContainerLimits {
  const memoryMb = options.memoryMb === undefined ? DEFAULT_MEMORY_MB : options.memoryMb;
  if (memoryMb !== null && !(Number.isInteger(memoryMb) && memoryMb >= MIN_MEMORY_MB)) {
    throw invalidOption(
      "memoryMb",
      `an integer number of MiB ≥ ${MIN_MEMORY_MB}, or null for no limit`,
      memoryMb,
    );
  }
  const cpus = options.cpus ?? null;
  if (cpus !== null && !(typeof cpus === "number" && Number.isFinite(cpus) && cpus >= 0.01)) {
    throw invalidOption(
      "cpus",
      "a number of CPUs ≥ 0.01 (e.g. 0.5 or 2), or null for no limit",
      cpus,
    );
  }
  const pidsLimit = options.pidsLimit === undefined ? DEFAULT_PIDS_LIMIT : options.pidsLimit;
  if (pidsLimit !== null && !(Number.isInteger(pidsLimit) && pidsLimit >= MIN_PIDS_LIMIT)) {
    throw invalidOption(
      "pidsLimit",
      `an integer ≥ ${MIN_PIDS_LIMIT}, or null for no limit`,
      pidsLimit,
    );
  }
  const capAdd = options.capAdd ?? [];
  if (!Array.isArray(capAdd)) {
    throw invalidOption(
      "capAdd",
      'an array of capability names, e.g. ["NET_BIND_SERVICE"]',
      capAdd,
    );
  }
  capAdd.forEach((cap: unknown, i) => {
    if (typeof cap !== "string" || !CAPABILITY.test(cap) || cap === "ALL" || cap === "CAP_ALL") {
      throw invalidOption(
        `capAdd[${i}]`,
        'one capability name such as "NET_BIND_SERVICE" ("ALL" is not allowed)',
        cap,
      );
    }
  });
  const user = options.user === undefined ? IMAGE_USER_UNLESS_ROOT : options.user;
  if (
    user !== null &&
    user !== IMAGE_USER_UNLESS_ROOT &&
    (typeof user !== "string" || !USER.test(user))
  ) {
    throw invalidOption(
      "user",
      'a user or uid, optionally with ":group", e.g. "1000:1000", or null for the image\'s own USER',
      user,
    );
  }
  return {
    user,
    memoryBytes: memoryMb === null ? null : memoryMb * 1024 * 1024,
    // Docker's NanoCpus: CPUs × 10⁹, which dockerd turns into a CFS quota per 100 ms period.
    nanoCpus: cpus === null ? null : Math.round(cpus * 1e9),
    pidsLimit,
    capAdd: [...capAdd],
  };
}

/**
 * The container's `User` (undefined: leave the image's). With the default, an image whose
 * `USER` is unset or root runs as DEFAULT_USER; a non-root `USER` (an image built for it, its
 * files owned by it, like packages/runner-agent/Dockerfile's 1000) is kept.
 */
export function userFor(limits: ContainerLimits, imageUser: string): string | undefined {
  if (limits.user === null) return undefined;
  if (limits.user !== IMAGE_USER_UNLESS_ROOT) return limits.user;
  const name = imageUser.split(":")[0] ?? "";
  return name === "" || name === "0" || name === "root" ? DEFAULT_USER : undefined;
}

/** The HostConfig fields that enforce `limits` (`user` goes on the container config itself). */
export function limitsHostConfig(limits: ContainerLimits): Record<string, unknown> {
  return {
    CapDrop: ["ALL"],
    ...(limits.capAdd.length === 0 ? {} : { CapAdd: [...limits.capAdd] }),
    SecurityOpt: ["no-new-privileges"],
    ...(limits.pidsLimit === null ? {} : { PidsLimit: limits.pidsLimit }),
    // MemorySwap = Memory: no swap on top of the limit (Docker's default would double it).
    ...(limits.memoryBytes === null
      ? {}
      : { Memory: limits.memoryBytes, MemorySwap: limits.memoryBytes }),
    ...(limits.nanoCpus === null ? {} : { NanoCpus: limits.nanoCpus }),
  };
}
