/**
 * The runner pod: a base (the parent's own pod in a cluster, else a bare one), the backend's
 * options, the user's `podTemplate`, then what flame-ts must own (labels, restartPolicy, the
 * Secret that carries FLAME_PARENT). Pure: no I/O.
 *
 * From the parent pod only what a runner needs is kept: its image, command and environment
 * (one image runs the app and its runners), service account, pull secrets and placement. Its
 * labels (a Deployment's selector would match), probes and ports (the runner serves none of
 * the app's endpoints), volumes (a ReadWriteOnce claim cannot be mounted twice), lifecycle
 * hooks, affinity (anti-affinity against the app's own pods) and sidecars are left out.
 */
import type { V1Container, V1EnvVar, V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import type { PodTemplate, ResolvedKubernetesBackendOptions } from "./options.js";
import { RUNNER_CONTAINER } from "./pod-status.js";

/** The runner's part of its parent pod, or a bare pod outside a cluster. */
export function basePod(parent: V1Pod | null, image: string | null, containerName?: string): V1Pod {
  if (parent === null) {
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {},
      spec: { containers: [{ name: RUNNER_CONTAINER, ...(image ? { image } : {}) }] },
    };
  }
  const containers = parent.spec?.containers ?? [];
  const source = containers.find((c) => c.name === containerName) ?? containers[0];
  const runner: V1Container = { name: RUNNER_CONTAINER };
  if (source !== undefined) {
    for (const key of [
      "image",
      "imagePullPolicy",
      "command",
      "args",
      "envFrom",
      "workingDir",
      "resources",
      "securityContext",
    ] as const) {
      if (source[key] !== undefined)
        (runner as unknown as Record<string, unknown>)[key] = structuredClone(source[key]);
    }
    const env = (source.env ?? []).filter((e) => e.name !== "FLAME_PARENT");
    if (env.length > 0) runner.env = structuredClone(env);
  }
  const spec = parent.spec;
  const kept: Record<string, unknown> = {};
  for (const key of [
    "serviceAccountName",
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "securityContext",
    "priorityClassName",
    "runtimeClassName",
    "hostNetwork",
    "dnsPolicy",
    "dnsConfig",
  ] as const) {
    if (spec?.[key] !== undefined) kept[key] = structuredClone(spec[key]);
  }
  return { apiVersion: "v1", kind: "Pod", metadata: {}, spec: { ...kept, containers: [runner] } };
}

/** The parent pod as the owner of its runners: deleting it deletes them (garbage collector). */
export function ownerReference(parent: V1Pod): V1OwnerReference {
  return {
    apiVersion: "v1",
    kind: "Pod",
    name: parent.metadata?.name ?? "",
    uid: parent.metadata?.uid ?? "",
    // A controller owner: no ReplicaSet whose selector happens to match will adopt the runner.
    controller: true,
    blockOwnerDeletion: false,
  };
}

export interface RunnerPodFacts {
  readonly generateName: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly owner: V1OwnerReference | null;
  /** The Secret holding the runner's environment (FLAME_PARENT). */
  readonly secretName: string;
}

/** The pod to create: base, options, template, then flame-ts's own fields. */
export function runnerPod(
  base: V1Pod,
  options: ResolvedKubernetesBackendOptions,
  facts: RunnerPodFacts,
): V1Pod {
  let pod = applyOptions(structuredClone(base), options);
  const template = options.podTemplate;
  if (typeof template === "function") pod = template(pod);
  else if (template !== null) pod = mergePod(pod, template);
  return ownFields(pod, options, facts);
}

function applyOptions(pod: V1Pod, options: ResolvedKubernetesBackendOptions): V1Pod {
  const spec = podSpec(pod);
  const runner = runnerContainer(pod);
  if (options.image !== null) runner.image = options.image;
  if (options.imagePullPolicy !== null) runner.imagePullPolicy = options.imagePullPolicy;
  if (options.resources !== null) {
    runner.resources = {
      ...(options.resources.requests ? { requests: { ...options.resources.requests } } : {}),
      ...(options.resources.limits ? { limits: { ...options.resources.limits } } : {}),
    };
  }
  runner.env = mergeEnv(
    runner.env ?? [],
    Object.entries(options.env).map(([name, value]) => ({ name, value })),
  );
  if (options.serviceAccountName !== null) spec.serviceAccountName = options.serviceAccountName;
  spec.automountServiceAccountToken = options.automountServiceAccountToken;
  if (options.activeDeadlineSeconds !== null)
    spec.activeDeadlineSeconds = options.activeDeadlineSeconds;
  // Service links put one variable per Service of the namespace into the runner: noise, and
  // on a large namespace enough to slow the container's start.
  spec.enableServiceLinks = false;
  return pod;
}

function ownFields(
  pod: V1Pod,
  options: ResolvedKubernetesBackendOptions,
  facts: RunnerPodFacts,
): V1Pod {
  pod.metadata ??= {};
  const metadata = pod.metadata;
  // No fixed name: Kubernetes adds a unique suffix, so two parents never collide.
  delete metadata.name;
  metadata.generateName = facts.generateName;
  metadata.namespace = facts.namespace;
  metadata.labels = { ...metadata.labels, ...options.labels, ...facts.labels };
  metadata.annotations = { ...metadata.annotations, ...options.annotations, ...facts.annotations };
  if (facts.owner !== null) metadata.ownerReferences = [facts.owner];
  const spec = podSpec(pod);
  // A runner that ended is not restarted: its pool boots another when it needs one.
  spec.restartPolicy = "Never";
  const runner = runnerContainer(pod);
  runner.env = (runner.env ?? []).filter((e) => e.name !== "FLAME_PARENT");
  runner.envFrom = [...(runner.envFrom ?? []), { secretRef: { name: facts.secretName } }];
  // A runner that fails before its hello explains itself on stderr: Kubernetes then keeps
  // the last lines as the termination message, and the boot error quotes them.
  runner.terminationMessagePolicy ??= "FallbackToLogsOnError";
  return pod;
}

function podSpec(pod: V1Pod): NonNullable<V1Pod["spec"]> {
  pod.spec ??= { containers: [] };
  return pod.spec;
}

/** The container named "runner", created if a template removed it. */
function runnerContainer(pod: V1Pod): V1Container {
  const spec = podSpec(pod);
  let runner = spec.containers.find((c) => c.name === RUNNER_CONTAINER);
  if (runner === undefined) {
    runner = { name: RUNNER_CONTAINER };
    spec.containers.unshift(runner);
  }
  return runner;
}

function mergeEnv(base: readonly V1EnvVar[], extra: readonly V1EnvVar[]): V1EnvVar[] {
  const names = new Set(extra.map((e) => e.name));
  return [...base.filter((e) => !names.has(e.name)), ...extra];
}

/**
 * `template` deep-merged into `pod`: objects merge, arrays and scalars replace, except
 * `spec.containers` and `spec.initContainers`, merged by name (as `kubectl patch` does).
 */
export function mergePod(pod: V1Pod, template: PodTemplate): V1Pod {
  return mergeValue(pod, template, "") as V1Pod;
}

const BY_NAME = new Set([
  ".spec.containers",
  ".spec.initContainers",
  ".spec.containers[].env",
  ".spec.initContainers[].env",
]);

function mergeValue(base: unknown, over: unknown, path: string): unknown {
  if (over === undefined) return structuredClone(base);
  if (Array.isArray(over) && Array.isArray(base) && BY_NAME.has(path)) {
    const out = base.map((b) => structuredClone(b) as { name?: string });
    for (const item of over as Array<{ name?: string }>) {
      const at = out.findIndex((b) => b.name !== undefined && b.name === item.name);
      if (at >= 0) out[at] = mergeValue(out[at], item, `${path}[]`) as { name?: string };
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (isPlainObject(over) && isPlainObject(base)) {
    const out: Record<string, unknown> = { ...structuredClone(base) };
    for (const [key, value] of Object.entries(over))
      out[key] = mergeValue(base[key], value, `${path}.${key}`);
    return out;
  }
  return structuredClone(over);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
