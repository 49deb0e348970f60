/**
 * Request-body validation for the emulator, following the documented shapes
 * (https://fly.io/docs/machines/api/machines-resource/): an unknown or misnamed field is a 400,
 * so a client that sends `memoryMb` instead of `memory_mb` fails its test instead of silently
 * getting a default.
 */

type Check = (value: unknown, path: string) => string | undefined;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const string: Check = (v, p) => (typeof v === "string" ? undefined : `${p} must be a string`);
const boolean: Check = (v, p) => (typeof v === "boolean" ? undefined : `${p} must be a boolean`);
const integer: Check = (v, p) => (Number.isInteger(v) ? undefined : `${p} must be an integer`);
const stringArray: Check = (v, p) =>
  Array.isArray(v) && v.every((item) => typeof item === "string")
    ? undefined
    : `${p} must be an array of strings`;
const stringMap: Check = (v, p) => {
  if (!isObject(v)) return `${p} must be an object`;
  for (const [key, item] of Object.entries(v))
    if (typeof item !== "string") return `${p}.${key} must be a string`;
  return undefined;
};
const oneOf =
  (...values: string[]): Check =>
  (v, p) =>
    typeof v === "string" && values.includes(v)
      ? undefined
      : `${p} must be one of ${values.join(", ")}`;
const anything: Check = () => undefined;
const arrayOf =
  (item: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return `${p} must be an array`;
    for (const [i, entry] of v.entries()) {
      const problem = item(entry, `${p}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  };

function object(fields: Record<string, Check>, required: string[] = []): Check {
  return (value, path) => {
    if (!isObject(value)) return `${path} must be an object`;
    for (const key of required) if (!(key in value)) return `${path}.${key} is required`;
    for (const [key, item] of Object.entries(value)) {
      const check = fields[key];
      const at = path === "" ? key : `${path}.${key}`;
      if (!check) return `unknown field ${at}`;
      const problem = check(item, at);
      if (problem) return problem;
    }
    return undefined;
  };
}

const guest = object({
  cpu_kind: string,
  cpus: integer,
  memory_mb: (v, p) =>
    integer(v, p) ?? ((v as number) % 256 === 0 ? undefined : `${p} must be a multiple of 256`),
  gpu_kind: string,
  gpus: integer,
  kernel_args: stringArray,
  host_dedication_id: string,
});

const init = object({
  exec: stringArray,
  entrypoint: stringArray,
  cmd: stringArray,
  tty: boolean,
  swap_size_mb: integer,
});

const service = object(
  {
    protocol: oneOf("tcp", "udp"),
    internal_port: integer,
    ports: arrayOf(anything),
    concurrency: object({
      type: oneOf("connections", "requests"),
      soft_limit: integer,
      hard_limit: integer,
    }),
    autostart: boolean,
    autostop: anything,
    auto_start: boolean,
    auto_stop: boolean,
    min_machines_running: integer,
    checks: arrayOf(anything),
  },
  ["protocol", "internal_port"],
);

const config = object(
  {
    image: string,
    auto_destroy: boolean,
    checks: anything,
    dns: anything,
    env: stringMap,
    files: arrayOf(anything),
    guest,
    init,
    metadata: stringMap,
    metrics: anything,
    mounts: arrayOf(anything),
    processes: arrayOf(anything),
    restart: object({ policy: oneOf("no", "on-failure", "always"), max_retries: integer }, [
      "policy",
    ]),
    schedule: oneOf("hourly", "daily", "weekly", "monthly"),
    services: arrayOf(service),
    size: string,
    standbys: stringArray,
    statics: arrayOf(anything),
    stop_config: object({ signal: string, timeout: anything }),
  },
  ["image"],
);

export const validateCreate = object(
  {
    config,
    name: string,
    region: string,
    skip_launch: boolean,
    skip_service_registration: boolean,
    lease_ttl: integer,
    lsvd: boolean,
  },
  ["config"],
);

export const validateStop = object({ signal: string, timeout: string });
