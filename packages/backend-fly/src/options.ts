/**
 * FlyBackend options: what a user may pass, the defaults taken from the Fly runtime
 * environment (https://fly.io/docs/machines/runtime-environment/), and validation that names
 * the bad field.
 */
import { FlameError, invalidOption } from "@flame-ts/pool-core";
import { FLY_PUBLIC_API_URL, type InitConfig, type MachineService } from "./machines-api.js";

export interface FlyGuestOptions {
  /** `guest.cpu_kind`: "performance" (FLAME's default) or "shared". */
  readonly cpuKind?: string;
  /** `guest.cpus`. Default 1. */
  readonly cpus?: number;
  /** `guest.memory_mb`, a multiple of 256. Default 4096, like FLAME. */
  readonly memoryMb?: number;
  /** `guest.gpu_kind`, e.g. "a100-pcie-40gb". Unset by default. */
  readonly gpuKind?: string;
  /** `guest.gpus`. Unset by default. */
  readonly gpus?: number;
}

/**
 * A warm pool: runner Machines kept *stopped* (not destroyed) when their runner ends, and
 * started again for the next boot instead of creating a new Machine. A stopped Machine costs
 * only its root filesystem; starting one skips the image pull and rootfs setup of a create.
 */
export interface FlyWarmOptions {
  /** Keep up to this many stopped runner Machines of the current image per pool. Default 0 (off). */
  readonly stopped?: number;
  /**
   * Not supported: a suspended Machine resumes the *same* process, still holding the previous
   * runner's FLAME_PARENT, and changing its config discards the snapshot. Passing it throws.
   */
  readonly suspended?: number;
}

export interface FlyBackendOptions {
  /** Fly app the runner Machines belong to. Default `FLY_APP_NAME`. */
  readonly app?: string;
  /** Image the runners run. Default `FLY_IMAGE_REF` (the parent's own image). */
  readonly image?: string;
  /** Machines API token. Default `FLY_API_TOKEN`. */
  readonly token?: string;
  /** Region to create runners in. Default `FLY_REGION` (the parent's region); unset lets Fly pick. */
  readonly region?: string;
  /** Machines API base URL. Default `https://api.machines.dev`; on Fly `http://_api.internal:4280` works too. */
  readonly apiUrl?: string;
  readonly guest?: FlyGuestOptions;
  /** Extra env for the runner (FLAME_PARENT always wins). Nothing else of the parent's env is copied. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra Machine metadata. Keys starting with `flame_` are reserved. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** `config.init` (exec/entrypoint/cmd), e.g. `{ cmd: ["node", "node_modules/.bin/flame-runner", "--entry", "dist/functions.js"] }`. */
  readonly init?: InitConfig;
  /** `config.services`; runners need none (they dial the parent), so unset by default. */
  readonly services?: readonly MachineService[];
  /** Machine name prefix; the name is `<prefix>-<runnerId>`. Default "flame". */
  readonly namePrefix?: string;
  /** Injected fetch (tests, proxies). Default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Where defaults are read from. Default `process.env`. */
  readonly processEnv?: Readonly<Record<string, string | undefined>>;
  /** Bound on `stop()` (stop, then force-destroy). Default 30_000. */
  readonly stopTimeoutMs?: number;
  /** Warm pool of stopped runner Machines (see FlyWarmOptions). Default off. */
  readonly warm?: FlyWarmOptions;
}

export interface ResolvedFlyOptions {
  readonly app: string;
  readonly image: string;
  readonly token: string;
  readonly region: string | undefined;
  readonly apiUrl: string;
  readonly guest: {
    readonly cpuKind: string;
    readonly cpus: number;
    readonly memoryMb: number;
    readonly gpuKind: string | undefined;
    readonly gpus: number | undefined;
  };
  readonly env: Readonly<Record<string, string>>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly init: InitConfig | undefined;
  readonly services: readonly MachineService[] | undefined;
  readonly namePrefix: string;
  readonly fetch: typeof fetch | undefined;
  /** The parent's own Machine id (`FLY_MACHINE_ID`), put in metadata so reapers can check it. */
  readonly parentMachineId: string | undefined;
  /** The parent's app (`FLY_APP_NAME`), which may differ from `app` (runners in their own app). */
  readonly parentApp: string | undefined;
  /** The parent Machine's version (`FLY_MACHINE_VERSION`, its `instance_id`). */
  readonly parentInstanceId: string | undefined;
  readonly stopTimeoutMs: number;
  /** Stopped Machines kept warm per pool; 0 = no warm pool (runners are auto-destroyed). */
  readonly warmStopped: number;
}

export function resolveFlyOptions(options: FlyBackendOptions = {}): ResolvedFlyOptions {
  const env = options.processEnv ?? process.env;
  const guest = options.guest ?? {};
  const resolved: ResolvedFlyOptions = {
    app: required(options.app, env.FLY_APP_NAME, "app", "FLY_APP_NAME"),
    image: required(options.image, env.FLY_IMAGE_REF, "image", "FLY_IMAGE_REF"),
    token: required(options.token, env.FLY_API_TOKEN, "token", "FLY_API_TOKEN"),
    region: optionalString(options.region ?? nonEmpty(env.FLY_REGION), "region"),
    apiUrl: url(options.apiUrl ?? FLY_PUBLIC_API_URL, "apiUrl"),
    guest: {
      cpuKind: optionalString(guest.cpuKind, "guest.cpuKind") ?? "performance",
      cpus: positiveInt(guest.cpus ?? 1, "guest.cpus"),
      memoryMb: memory(guest.memoryMb ?? 4096),
      gpuKind: optionalString(guest.gpuKind, "guest.gpuKind"),
      gpus: guest.gpus === undefined ? undefined : positiveInt(guest.gpus, "guest.gpus"),
    },
    env: stringRecord(options.env ?? {}, "env"),
    metadata: userMetadata(options.metadata ?? {}),
    init: options.init,
    services: options.services,
    namePrefix: namePrefix(options.namePrefix ?? "flame"),
    fetch: options.fetch,
    parentMachineId: nonEmpty(env.FLY_MACHINE_ID),
    parentApp: nonEmpty(env.FLY_APP_NAME),
    parentInstanceId: nonEmpty(env.FLY_MACHINE_VERSION),
    stopTimeoutMs: positiveInt(options.stopTimeoutMs ?? 30_000, "stopTimeoutMs"),
    warmStopped: warm(options.warm),
  };
  if (options.fetch !== undefined && typeof options.fetch !== "function")
    throw invalidOption("fetch", "a fetch function", options.fetch);
  return resolved;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function required(
  value: unknown,
  fallback: string | undefined,
  field: string,
  envVar: string,
): string {
  const chosen = value ?? nonEmpty(fallback);
  if (chosen === undefined)
    throw new FlameError(
      "INVALID_OPTIONS",
      `FlyBackend needs \`${field}\`: pass it as an option or set ${envVar}.`,
      { field },
    );
  if (typeof chosen !== "string" || chosen.trim() === "")
    throw invalidOption(field, "a non-empty string", chosen);
  return chosen;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "")
    throw invalidOption(field, "a non-empty string", value);
  return value;
}

function url(value: unknown, field: string): string {
  if (
    typeof value !== "string" ||
    !URL.canParse(value) ||
    !/^https?:$/.test(new URL(value).protocol)
  )
    throw invalidOption(field, "an http(s) URL such as https://api.machines.dev", value);
  return value;
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0)
    throw invalidOption(field, "a positive integer", value);
  return value;
}

function memory(value: unknown): number {
  const mb = positiveInt(value, "guest.memoryMb");
  if (mb % 256 !== 0)
    throw invalidOption(
      "guest.memoryMb",
      "a multiple of 256 (Fly sizes memory in 256 MB steps)",
      mb,
    );
  return mb;
}

function stringRecord(value: unknown, field: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalidOption(field, "an object of string values", value);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") throw invalidOption(`${field}.${key}`, "a string", item);
  }
  return { ...(value as Record<string, string>) };
}

function userMetadata(value: unknown): Record<string, string> {
  const record = stringRecord(value, "metadata");
  for (const key of Object.keys(record)) {
    if (key.startsWith("flame_"))
      throw invalidOption(
        `metadata.${key}`,
        "a key not starting with `flame_` (reserved for flame-ts)",
        key,
      );
  }
  return record;
}

function namePrefix(value: unknown): string {
  if (typeof value !== "string" || !/^[a-z0-9][a-z0-9-]{0,30}$/.test(value))
    throw invalidOption("namePrefix", "lowercase letters, digits and dashes (at most 31)", value);
  return value;
}

function warm(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalidOption("warm", "an object such as { stopped: 2 }", value);
  for (const key of Object.keys(value)) {
    if (key === "suspended")
      throw invalidOption(
        "warm.suspended",
        "unset: a suspended Machine resumes the previous runner's process (and a config change drops the snapshot), so flame-ts keeps warm Machines stopped; use { stopped: n }",
        (value as Record<string, unknown>).suspended,
      );
    if (key !== "stopped")
      throw invalidOption(`warm.${key}`, "no such option (only `stopped`)", key);
  }
  const stopped = (value as { stopped?: unknown }).stopped ?? 0;
  if (typeof stopped !== "number" || !Number.isInteger(stopped) || stopped < 0)
    throw invalidOption("warm.stopped", "a non-negative integer", stopped);
  return stopped;
}
