/**
 * The subset of the Fly Machines API that flame-ts uses, typed once, here.
 *
 * Field names and shapes follow Fly's OpenAPI description (superfly/fly-openapi-sdk,
 * go/api/openapi.yaml; the commit the tests check against is recorded in
 * test/emulator/fly-openapi.json) and Fly's docs:
 * - https://fly.io/docs/machines/api/machines-resource/ (endpoints, Machine properties,
 *   `config` object properties, wait/stop/delete parameters)
 * - https://fly.io/docs/machines/api/working-with-machines-api/ (base URLs, bearer auth,
 *   status codes, rate limits)
 * - https://fly.io/docs/machines/machine-states/ (states)
 * Field names are Fly's (snake_case) on purpose: these objects go on the wire as they are.
 */

/** Public base URL; from inside Fly's private network `http://_api.internal:4280` also works. */
export const FLY_PUBLIC_API_URL = "https://api.machines.dev";
export const FLY_INTERNAL_API_URL = "http://_api.internal:4280";

/** Machine states (https://fly.io/docs/machines/machine-states/). */
export const MACHINE_STATES = [
  // persistent
  "created",
  "started",
  "stopped",
  "suspended",
  "failed",
  // transient
  "creating",
  "starting",
  "stopping",
  "restarting",
  "suspending",
  "destroying",
  "launch_failed",
  "updating",
  "replacing",
  // terminal
  "destroyed",
  "replaced",
  "migrated",
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

/** States `GET …/wait?state=` accepts (default `started`); `suspended` per Fly's newer docs. */
export const WAITABLE_STATES = ["started", "stopped", "suspended", "destroyed"] as const;
export type WaitableState = (typeof WAITABLE_STATES)[number];

/** `config.guest`: the VM size. */
export interface GuestConfig {
  cpu_kind?: string;
  cpus?: number;
  /** Multiples of 256. */
  memory_mb?: number;
  gpu_kind?: string;
  /** Not in the OpenAPI commit we check against; documented in Fly's config reference. */
  gpus?: number;
  kernel_args?: string[];
}

/** `config.init`: how the Machine's program is started (overrides the image's). */
export interface InitConfig {
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
  tty?: boolean;
  swap_size_mb?: number;
  kernel_args?: string[];
}

export interface RestartConfig {
  /** "no" | "on-failure" | "always" (a plain string in Fly's description). */
  policy: "no" | "on-failure" | "always";
  max_retries?: number;
}

/** One `config.services[]` entry (Fly Proxy routing); flame-ts passes it through untouched. */
export interface MachineService {
  protocol?: string;
  internal_port?: number;
  ports?: Array<Record<string, unknown>>;
  concurrency?: { type?: string; soft_limit?: number; hard_limit?: number };
  autostart?: boolean;
  autostop?: boolean;
  checks?: Array<Record<string, unknown>>;
  min_machines_running?: number;
  force_instance_key?: string;
  force_instance_description?: string;
}

export interface StopConfig {
  signal?: string;
  /** A duration string, e.g. "10s". */
  timeout?: string;
}

/** The Machine `config` object (the fields flame-ts may send). */
export interface MachineConfig {
  image: string;
  auto_destroy?: boolean;
  env?: Record<string, string>;
  guest?: GuestConfig;
  init?: InitConfig;
  metadata?: Record<string, string>;
  restart?: RestartConfig;
  services?: MachineService[];
  stop_config?: StopConfig;
}

/** Body of `POST /v1/apps/{app_name}/machines`. */
export interface CreateMachineRequest {
  config: MachineConfig;
  name?: string;
  region?: string;
  skip_launch?: boolean;
  skip_service_registration?: boolean;
  lease_ttl?: number;
  lsvd?: boolean;
}

/** Body of `POST /v1/apps/{app_name}/machines/{machine_id}` (update: a new version). */
export interface UpdateMachineRequest {
  config: MachineConfig;
  /** Refuse the update unless the Machine is still at this version (`instance_id`). */
  current_version?: string;
  name?: string;
  region?: string;
  /** true: change the config without starting the Machine. */
  skip_launch?: boolean;
  skip_service_registration?: boolean;
  lease_ttl?: number;
  lsvd?: boolean;
}

/** Body of `POST …/machines/{machine_id}/lease`. */
export interface CreateLeaseRequest {
  description?: string;
  /** Seconds. */
  ttl?: number;
}

/** A Machine lease: only requests carrying `nonce` (header below) may change the Machine. */
export interface Lease {
  nonce: string;
  /** Unix seconds. */
  expires_at?: number;
  owner?: string;
  description?: string;
}

/** Header that carries a lease's nonce on requests that change a leased Machine. */
export const LEASE_NONCE_HEADER = "fly-machine-lease-nonce";

/** Body of `POST /v1/apps/{app_name}/machines/{machine_id}/stop`. */
export interface StopMachineRequest {
  /** Default SIGINT. */
  signal?: string;
  /** Seconds to wait before SIGKILL, as a duration string, e.g. "10s". */
  timeout?: string;
}

/** A Machine as the API returns it (fields flame-ts reads; Fly sends more). */
export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  /** The current version; `wait?state=stopped` needs it. */
  instance_id: string;
  /** 6PN IPv6 address. */
  private_ip: string;
  config: MachineConfig;
  created_at: string;
  updated_at: string;
  events?: MachineEvent[];
}

/** One entry of `Machine.events`; an `exit` event carries the main process's exit code. */
export interface MachineEvent {
  type: string;
  status: string;
  source: string;
  timestamp: number;
  request?: { exit_event?: { exit_code?: number; oom_killed?: boolean; requested_stop?: boolean } };
}

/** Query of `GET /v1/apps/{app_name}/machines`. */
export interface ListMachinesQuery {
  include_deleted?: boolean;
  region?: string;
  /** Sent as `metadata.{key}=value`; a Machine matches when every pair matches. */
  metadata?: Record<string, string>;
}

/** Query of `GET /v1/apps/{app_name}/machines/{machine_id}/wait`. 200 = reached, 408 = timed out. */
export interface WaitQuery {
  state: WaitableState;
  /** Required by Fly when waiting for `stopped`. */
  instance_id?: string;
  /** Seconds; Fly's default is 60. */
  timeout?: number;
}

/** Error body the API sends with a 4xx/5xx. */
export interface FlyErrorBody {
  error: string;
}

/** `{ "ok": true }` from wait, stop and delete. */
export interface OkBody {
  ok: boolean;
}

/** Metadata keys flame-ts puts on every runner Machine. */
export const FLAME_METADATA = {
  pool: "flame_pool",
  runner: "flame_runner",
  parent: "flame_parent",
  /** The parent's own Machine id (FLY_MACHINE_ID) when the parent runs on Fly. */
  parentMachine: "flame_parent_machine",
  /** The parent's app (FLY_APP_NAME): the reaper looks the parent Machine up there. */
  parentApp: "flame_parent_app",
  /** The parent Machine's version (FLY_MACHINE_VERSION = its instance_id) when it booted us. */
  parentInstance: "flame_parent_instance",
  /** Set on runners of a warm pool: the Machine is kept stopped for reuse when it ends. */
  warm: "flame_warm",
} as const;
