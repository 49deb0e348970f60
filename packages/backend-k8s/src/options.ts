/**
 * KubernetesBackend options: what a user may set, their defaults, and their validation.
 * Every bad value fails at construction with INVALID_OPTIONS naming the field, so a typo
 * surfaces when the pool is built, not at the first boot.
 */
import { invalidOption } from "@flame-ts/pool-core";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { DEFAULT_APP, RESERVED_PREFIX } from "./labels.js";

/** A V1Pod with every field optional, at every depth: what `podTemplate` merges in. */
export type PodTemplate = DeepPartial<V1Pod>;
export type DeepPartial<T> = T extends Date
  ? T
  : T extends ReadonlyArray<infer U>
    ? DeepPartial<U>[]
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** CPU and memory as Kubernetes quantities, e.g. `{ cpu: "500m", memory: "512Mi" }`. */
export interface ResourceQuantities {
  readonly cpu?: string;
  readonly memory?: string;
}

export interface RunnerResources {
  /** What the scheduler reserves for the runner pod. */
  readonly requests?: ResourceQuantities;
  /**
   * The most the runner may use. The runner-agent sizes its worker threads from the CPU
   * limit (its cgroup quota): `cpu: "1"` gives one thread.
   */
  readonly limits?: ResourceQuantities;
}

/** The parent pod whose template and ownership runners take (the downward API's POD_NAME). */
export interface ParentPodRef {
  readonly name: string;
  /** Default: `namespace`. */
  readonly namespace?: string;
  /** The container to copy (image, command, env). Default: `POD_CONTAINER`, else the first. */
  readonly container?: string;
}

export interface KubernetesBackendOptions {
  /**
   * Namespace of the runner pods. Default: the parent pod's namespace in a cluster
   * (`POD_NAMESPACE`, else the service account's), else the kubeconfig context's, else
   * "default".
   */
  readonly namespace?: string;
  /**
   * Image that runs the runner-agent. Default in a cluster: the parent container's own image
   * (one image for the app and its runners). Required outside a cluster.
   */
  readonly image?: string;
  /**
   * How to reach the API server: a `KubeConfig` of `@kubernetes/client-node`, or the path of
   * a kubeconfig file. Default: what kubectl would load (`KUBECONFIG`, `~/.kube/config`, or
   * the pod's service account in a cluster).
   */
  readonly kubeConfig?: KubeConfig | string;
  /**
   * Changes to the runner pod: a partial `V1Pod` deep-merged into the pod flame-ts builds
   * (objects merge, arrays and scalars replace; containers merge by name, the runner's is
   * named "runner"), or a function that receives that pod and returns the pod to create.
   * flame-ts still sets its labels, restartPolicy "Never" and the runner's Secret afterwards.
   */
  readonly podTemplate?: PodTemplate | ((base: V1Pod) => V1Pod);
  /** CPU and memory requests and limits of the runner container. Default: the template's. */
  readonly resources?: RunnerResources;
  /** Extra environment for the runner (FLAME_PARENT is set by the pool and may not be given). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra labels on runner pods. Keys under "flame-ts.dev/" are reserved. Mind selectors (README). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Extra annotations on runner pods. Keys under "flame-ts.dev/" are reserved. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Service account of runner pods. Default: the parent pod's in a cluster, else the namespace's default. */
  readonly serviceAccountName?: string;
  /**
   * Mount the service account's API token into runner pods. Default false: a runner runs your
   * functions on untrusted input and has no need of the parent's power to create pods.
   */
  readonly automountServiceAccountToken?: boolean;
  /**
   * The parent pod: runners copy its template and are owned by it (`ownerReferences`), so
   * Kubernetes' garbage collector removes them with it. Default: `POD_NAME` (and
   * `POD_NAMESPACE`, `POD_CONTAINER`) from the downward API when set; `null` turns it off.
   */
  readonly parentPod?: ParentPodRef | null;
  /**
   * The app scope, written as the `flame-ts.dev/app` label: `reapOrphans` only ever considers
   * pods of its own app. Letters, digits, '_', '.', '-' (not first), up to 63. Default "default".
   */
  readonly app?: string;
  /** Runner pods are named `${namePrefix}${pool}-xxxxx`. Lower case, digits, '-'. Default "flame-". */
  readonly namePrefix?: string;
  /** The runner container's `imagePullPolicy`. Default: Kubernetes' own (or the template's). */
  readonly imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /**
   * A cost guard: Kubernetes kills a runner pod this many seconds after it started, whatever it
   * is doing (`activeDeadlineSeconds`). Default: none.
   */
  readonly activeDeadlineSeconds?: number;
  /**
   * How long a runner pod may stay unschedulable (no node fits its requests) before the boot
   * fails as BOOT_FAILED (permanent). Raise it with a cluster autoscaler, together with the
   * pool's `bootTimeout`. Default 15,000 ms.
   */
  readonly unschedulableTimeoutMs?: number;
  /**
   * `stop()` deletes the pod with this grace period (SIGTERM, then SIGKILL after it); the pool
   * has already asked the runner to drain by then. Default 5 s.
   */
  readonly stopGracePeriodSeconds?: number;
  /**
   * How long `stop()` waits for a deleted pod to be gone before it force-deletes it (a node
   * that stopped answering keeps a pod "Terminating" forever). Default 15,000 ms.
   */
  readonly stopTimeoutMs?: number;
}

export interface ResolvedKubernetesBackendOptions {
  readonly namespace: string | null;
  readonly image: string | null;
  readonly kubeConfig: KubeConfig | string | null;
  readonly podTemplate: PodTemplate | ((base: V1Pod) => V1Pod) | null;
  readonly resources: RunnerResources | null;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly serviceAccountName: string | null;
  readonly automountServiceAccountToken: boolean;
  readonly parentPod: ParentPodRef | null;
  readonly app: string;
  readonly namePrefix: string;
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never" | null;
  readonly activeDeadlineSeconds: number | null;
  readonly unschedulableTimeoutMs: number;
  readonly stopGracePeriodSeconds: number;
  readonly stopTimeoutMs: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAME_PREFIX = /^([a-z0-9][-a-z0-9]{0,39})?$/;
const APP = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
// Kubernetes quantities: "500m", "1", "0.5", "512Mi", "1G", "1e3".
const QUANTITY = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$/;
const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;

export function resolveKubernetesBackendOptions(
  options: KubernetesBackendOptions = {},
  processEnv: Readonly<Record<string, string | undefined>> = process.env,
): ResolvedKubernetesBackendOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("options", "an object", options);
  }
  const namespace = optional(options.namespace, (v) => dnsLabel("namespace", v));
  const image = optional(options.image, (v) => {
    if (typeof v !== "string" || v.trim() === "") {
      throw invalidOption("image", 'a non-empty image reference, e.g. "registry/app:1.2"', v);
    }
    return v;
  });
  const kubeConfig = optional(options.kubeConfig, (v) => {
    if (typeof v === "string" && v !== "") return v;
    if (isKubeConfig(v)) return v;
    throw invalidOption("kubeConfig", "a KubeConfig or the path of a kubeconfig file", v);
  });
  const podTemplate = optional(options.podTemplate, (v) => {
    if (typeof v === "function" || (typeof v === "object" && v !== null && !Array.isArray(v)))
      return v;
    throw invalidOption("podTemplate", "a partial V1Pod object or a function (base) => pod", v);
  });
  const env = stringRecord("env", options.env ?? {});
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) throw invalidOption(`env.${key}`, "a C identifier-like name", key);
    if (key === "FLAME_PARENT") {
      throw invalidOption("env.FLAME_PARENT", "to be left unset (the pool sets it)", env[key]);
    }
  }
  const labels = reservedFree("labels", stringRecord("labels", options.labels ?? {}));
  for (const [key, value] of Object.entries(labels)) {
    if (!/^(([A-Za-z0-9]([-A-Za-z0-9_.]*)?[A-Za-z0-9])?)$/.test(value) || value.length > 63) {
      throw invalidOption(
        `labels.${key}`,
        "a label value: up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends",
        value,
      );
    }
  }
  const annotations = reservedFree(
    "annotations",
    stringRecord("annotations", options.annotations ?? {}),
  );
  const serviceAccountName = optional(options.serviceAccountName, (v) =>
    dnsSubdomain("serviceAccountName", v),
  );
  const automount = options.automountServiceAccountToken ?? false;
  if (typeof automount !== "boolean") {
    throw invalidOption("automountServiceAccountToken", "a boolean", automount);
  }
  const app = options.app ?? DEFAULT_APP;
  if (typeof app !== "string" || !APP.test(app)) {
    throw invalidOption("app", "letters, digits, '_', '.', '-' (not first), 1–63 characters", app);
  }
  const namePrefix = options.namePrefix ?? "flame-";
  if (typeof namePrefix !== "string" || !NAME_PREFIX.test(namePrefix)) {
    throw invalidOption(
      "namePrefix",
      "lower-case letters, digits and '-' (not first), up to 40",
      namePrefix,
    );
  }
  const imagePullPolicy = optional(options.imagePullPolicy, (v) => {
    const policy = PULL_POLICIES.find((p) => p === v);
    if (policy === undefined) {
      throw invalidOption("imagePullPolicy", '"Always", "IfNotPresent" or "Never"', v);
    }
    return policy;
  });
  const activeDeadlineSeconds = optional(options.activeDeadlineSeconds, (v) =>
    positiveInteger("activeDeadlineSeconds", v),
  );
  return {
    namespace,
    image,
    kubeConfig,
    podTemplate,
    resources: optional(options.resources, resolveResources),
    env,
    labels,
    annotations,
    serviceAccountName,
    automountServiceAccountToken: automount,
    parentPod: resolveParentPod(options, processEnv),
    app,
    namePrefix,
    imagePullPolicy,
    activeDeadlineSeconds,
    unschedulableTimeoutMs: positiveNumber(
      "unschedulableTimeoutMs",
      options.unschedulableTimeoutMs ?? 15_000,
    ),
    stopGracePeriodSeconds: nonNegativeInteger(
      "stopGracePeriodSeconds",
      options.stopGracePeriodSeconds ?? 5,
    ),
    stopTimeoutMs: positiveNumber("stopTimeoutMs", options.stopTimeoutMs ?? 15_000),
  };
}

/** `parentPod` as given, else from the downward API's environment variables. */
function resolveParentPod(
  options: KubernetesBackendOptions,
  processEnv: Readonly<Record<string, string | undefined>>,
): ParentPodRef | null {
  if (options.parentPod === null) return null;
  const given = options.parentPod;
  if (given === undefined) {
    const name = processEnv.POD_NAME?.trim();
    if (!name) return null;
    const namespace = processEnv.POD_NAMESPACE?.trim();
    const container = processEnv.POD_CONTAINER?.trim();
    return {
      name: dnsSubdomain("POD_NAME", name),
      ...(namespace ? { namespace: dnsLabel("POD_NAMESPACE", namespace) } : {}),
      ...(container ? { container } : {}),
    };
  }
  if (typeof given !== "object" || given === null) {
    throw invalidOption("parentPod", "{ name, namespace?, container? } or null", given);
  }
  return {
    name: dnsSubdomain("parentPod.name", given.name),
    ...(given.namespace === undefined
      ? {}
      : { namespace: dnsLabel("parentPod.namespace", given.namespace) }),
    ...(given.container === undefined
      ? {}
      : { container: dnsLabel("parentPod.container", given.container) }),
  };
}

function resolveResources(value: unknown): RunnerResources {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption(
      "resources",
      "{ requests?: { cpu?, memory? }, limits?: { cpu?, memory? } }",
      value,
    );
  }
  const out: { requests?: ResourceQuantities; limits?: ResourceQuantities } = {};
  for (const [group, quantities] of Object.entries(value)) {
    if (group !== "requests" && group !== "limits") {
      throw invalidOption(`resources.${group}`, '"requests" or "limits"', group);
    }
    if (typeof quantities !== "object" || quantities === null) {
      throw invalidOption(`resources.${group}`, "{ cpu?, memory? }", quantities);
    }
    const checked: { cpu?: string; memory?: string } = {};
    for (const [name, q] of Object.entries(quantities as Record<string, unknown>)) {
      if (name !== "cpu" && name !== "memory") {
        throw invalidOption(`resources.${group}.${name}`, '"cpu" or "memory"', name);
      }
      if (typeof q !== "string" || !QUANTITY.test(q)) {
        throw invalidOption(
          `resources.${group}.${name}`,
          'a Kubernetes quantity such as "500m", "1" or "512Mi"',
          q,
        );
      }
      checked[name] = q;
    }
    out[group] = checked;
  }
  return out;
}

function optional<T>(value: unknown, check: (v: unknown) => T): T | null {
  return value === undefined ? null : check(value);
}

function dnsLabel(field: string, value: unknown): string {
  if (typeof value !== "string" || !DNS_LABEL.test(value)) {
    throw invalidOption(field, "a DNS label: lower-case letters, digits and '-', up to 63", value);
  }
  return value;
}

function dnsSubdomain(field: string, value: unknown): string {
  if (typeof value !== "string" || !DNS_SUBDOMAIN.test(value)) {
    throw invalidOption(field, "a DNS subdomain: lower-case letters, digits, '-' and '.'", value);
  }
  return value;
}

function positiveInteger(field: string, value: unknown): number {
  if (!(Number.isSafeInteger(value) && (value as number) > 0)) {
    throw invalidOption(field, "a positive integer", value);
  }
  return value as number;
}

function nonNegativeInteger(field: string, value: unknown): number {
  if (!(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw invalidOption(field, "an integer ≥ 0", value);
  }
  return value as number;
}

function positiveNumber(field: string, value: unknown): number {
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
    throw invalidOption(field, "a positive number of milliseconds", value);
  }
  return value;
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

function reservedFree(field: string, record: Record<string, string>): Record<string, string> {
  for (const key of Object.keys(record)) {
    if (key.startsWith(RESERVED_PREFIX)) {
      throw invalidOption(`${field}.${key}`, `a key outside "${RESERVED_PREFIX}*"`, key);
    }
  }
  return record;
}

/** Duck-typed: a KubeConfig from another copy of the package is just as good. */
function isKubeConfig(value: unknown): value is KubeConfig {
  const v = value as Partial<KubeConfig> | null;
  return typeof v === "object" && v !== null && typeof v.makeApiClient === "function";
}
