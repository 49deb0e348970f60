/**
 * The subset of the Fly Machines API that flame-ts uses, typed once, here.
 *
 * Derived from Fly's documented schema:
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

/** States `GET …/wait?state=` accepts (default `started`). */
export const WAITABLE_STATES = ["started", "stopped", "destroyed"] as const;
export type WaitableState = (typeof WAITABLE_STATES)[number];

/** `config.guest`: the VM size. */
export interface GuestConfig {
  cpu_kind?: string;
  cpus?: number;
  /** Multiples of 256. */
  memory_mb?: number;
  gpu_kind?: string;
  gpus?: number;
  kernel_args?: string[];
  host_dedication_id?: string;
}

/** `config.init`: how the Machine's program is started (overrides the image's). */
export interface InitConfig {
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
  tty?: boolean;
  swap_size_mb?: number;
}

export interface RestartConfig {
  policy: "no" | "on-failure" | "always";
  max_retries?: number;
}

/** One `config.services[]` entry (Fly Proxy routing); flame-ts passes it through untouched. */
export interface MachineService {
  protocol: "tcp" | "udp";
  internal_port: number;
  ports?: Array<Record<string, unknown>>;
  concurrency?: { type?: "connections" | "requests"; soft_limit?: number; hard_limit?: number };
  autostart?: boolean;
  autostop?: boolean | string;
  auto_start?: boolean;
  auto_stop?: boolean;
  min_machines_running?: number;
}

export interface StopConfig {
  signal?: string;
  /** Nanoseconds in the documented schema. */
  timeout?: number | string;
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
} as const;
