/**
 * Where a KubernetesBackend's runners go, resolved once (on the first boot, retried after a
 * failure): the API clients, the namespace, the parent pod (in a cluster) whose template and
 * ownership runners take, and the shared pod watch.
 */
import { readFileSync } from "node:fs";
import { FlameError, invalidOption, parentId } from "@flame-ts/pool-core";
import { CoreV1Api, KubeConfig, type V1OwnerReference, type V1Pod } from "@kubernetes/client-node";
import { apiMessage, apiStatus, refusalAdvice } from "./api-errors.js";
import { appSelector } from "./labels.js";
import type { ResolvedKubernetesBackendOptions } from "./options.js";
import { basePod, ownerReference } from "./pod-template.js";
import { PodWatch } from "./pod-watch.js";

/** Where a pod's service account puts its namespace (in-cluster configuration). */
const SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

export interface Cluster {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly namespace: string;
  readonly base: V1Pod;
  readonly owner: V1OwnerReference | null;
  readonly watch: PodWatch;
}

function loadKubeConfig(given: KubeConfig | string | null): KubeConfig {
  if (given !== null && typeof given !== "string") return given;
  const kubeConfig = new KubeConfig();
  try {
    if (typeof given === "string") kubeConfig.loadFromFile(given);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `KubernetesBackend: could not load the kubeconfig${typeof given === "string" ? ` ${given}` : " (KUBECONFIG, ~/.kube/config or in-cluster)"}: ${(error as Error).message}`,
      { field: "kubeConfig", cause: error },
    );
  }
  if (kubeConfig.getCurrentCluster() === null) {
    throw invalidOption(
      "kubeConfig",
      "a kubeconfig whose current context names a cluster",
      given ?? "the default kubeconfig",
    );
  }
  return kubeConfig;
}

export async function resolveCluster(options: ResolvedKubernetesBackendOptions): Promise<Cluster> {
  const kubeConfig = loadKubeConfig(options.kubeConfig);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const parentRef = options.parentPod;
  const namespace =
    options.namespace ??
    parentRef?.namespace ??
    (parentRef ? serviceAccountNamespace() : null) ??
    kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ??
    "default";
  let parent: V1Pod | null = null;
  if (parentRef !== null) {
    const parentNamespace = parentRef.namespace ?? namespace;
    if (parentNamespace !== namespace) {
      // An owner in another namespace reads as missing to the garbage collector, which then
      // deletes the runner at once.
      throw new FlameError(
        "BOOT_FAILED",
        `KubernetesBackend: runner pods must live in their parent pod's namespace "${parentNamespace}" to be owned by it, not "${namespace}". Drop the namespace option, or set parentPod: null.`,
        { permanent: true },
      );
    }
    try {
      parent = await core.readNamespacedPod({ name: parentRef.name, namespace });
    } catch (error) {
      const status = apiStatus(error);
      throw new FlameError(
        "BOOT_FAILED",
        `KubernetesBackend: could not read the parent pod ${namespace}/${parentRef.name} (POD_NAME): ${apiMessage(error)}. ${refusalAdvice(error)}`.trim(),
        { permanent: status !== null && status < 500 && status !== 429, cause: error },
      );
    }
  }
  const base = basePod(parent, options.image, parentRef?.container);
  const image = base.spec?.containers[0]?.image;
  if (!image && options.podTemplate === null) {
    throw new FlameError(
      "BOOT_FAILED",
      "KubernetesBackend: no image for runner pods: set the image option (required outside a cluster).",
      { permanent: true },
    );
  }
  const watch = new PodWatch(kubeConfig, core, namespace, appSelector(options.app, parentId));
  return {
    kubeConfig,
    core,
    namespace,
    base,
    owner: parent ? ownerReference(parent) : null,
    watch,
  };
}

function serviceAccountNamespace(): string | null {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, "utf8").trim() || null;
  } catch {
    return null;
  }
}
