/**
 * Shared by the Kubernetes suites: is the test cluster there (skip with one line, or fail
 * under CI), a namespace of this run's own (deleted at the end), and the Docker helpers the
 * suites reuse (the kubelet runs pods on the same Docker Engine, from the same test image).
 *
 * The cluster is the one `npm run k8s:up` (scripts/k8s/up.sh) starts; its admin kubeconfig is
 * read from FLAME_K8S_KUBECONFIG, default /tmp/flame-ts-k8s/admin.kubeconfig.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceEntry } from "@flame-ts/pool-core/testing";
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1Pod } from "@kubernetes/client-node";
import Dockerode from "dockerode";
import { runTag, TEST_IMAGE, waitFor } from "../../backend-docker/test/docker-env.js";
import type { KubernetesBackendOptions } from "../src/index.js";

export {
  ensureTestImage,
  runTag,
  TEST_IMAGE,
  waitFor,
} from "../../backend-docker/test/docker-env.js";

export const KUBECONFIG_PATH =
  process.env.FLAME_K8S_KUBECONFIG ?? "/tmp/flame-ts-k8s/admin.kubeconfig";
/** The KubernetesBackend `app` of this run: its reaper and selectors see only this run's pods. */
export const TEST_APP = `k8s-test-${runTag}`;

/** The conformance functions as the test image holds them (build-test-image.mjs: /app/fixtures/<file>). */
export const CONFORMANCE_ENTRY = `/app/fixtures/${basename(fileURLToPath(conformanceEntry))}`;

/**
 * What every suite's runner pods share: the local test image (no registry: never pulled), the
 * host's network (no CNI: the pool's loopback listener is where they dial), this run's app.
 */
export function testBackendOptions(
  kubeConfig: KubeConfig,
  namespace: string,
  entry = CONFORMANCE_ENTRY,
): KubernetesBackendOptions {
  return {
    kubeConfig,
    namespace,
    image: TEST_IMAGE,
    imagePullPolicy: "Never",
    env: { FLAME_ENTRY: entry },
    app: TEST_APP,
    podTemplate: { spec: { hostNetwork: true } },
    stopGracePeriodSeconds: 1,
  };
}

export type ClusterProbe =
  | {
      ok: true;
      kubeConfig: KubeConfig;
      core: CoreV1Api;
      rbac: RbacAuthorizationV1Api;
      docker: Dockerode;
    }
  | { ok: false; why: string };

export async function probeCluster(): Promise<ClusterProbe> {
  if (!existsSync(KUBECONFIG_PATH))
    return { ok: false, why: `no kubeconfig at ${KUBECONFIG_PATH}` };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(KUBECONFIG_PATH);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  try {
    await core.readNode({ name: "127.0.0.1" });
  } catch (error) {
    return {
      ok: false,
      why: `the test cluster does not answer (${(error as Error).message.split("\n")[0]})`,
    };
  }
  const docker = new Dockerode();
  try {
    await docker.ping();
  } catch (error) {
    return { ok: false, why: `no Docker daemon answering (${(error as Error).message})` };
  }
  return {
    ok: true,
    kubeConfig,
    core,
    rbac: kubeConfig.makeApiClient(RbacAuthorizationV1Api),
    docker,
  };
}

/** One line when skipping; under CI=true a missing cluster is a failure, never a skip. */
export function reportMissingCluster(probe: ClusterProbe, suite: string): boolean {
  if (probe.ok) return false;
  if (process.env.CI === "true") {
    throw new Error(`${suite}: CI=true requires the test cluster: ${probe.why}. Run .ci/k8s.sh.`);
  }
  console.warn(`[${suite}] skipped: ${probe.why}; start one with npm run k8s:up`);
  return true;
}

/** A namespace of this test file's own, ready for pods (its default ServiceAccount exists). */
export async function createNamespace(core: CoreV1Api, suffix: string): Promise<string> {
  const name = `flame-${suffix}-${runTag}`;
  await core.createNamespace({
    body: { metadata: { name, labels: { "flame-ts-test.run": runTag } } },
  });
  await waitFor(
    `the default ServiceAccount of ${name}`,
    async () =>
      core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(
        () => true,
        () => false,
      ),
    30_000,
  );
  return name;
}

export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name, gracePeriodSeconds: 0 }).catch(() => {});
}

/** This run's runner pods and Secrets in `namespace` (by the backend's labels). */
export async function leftovers(core: CoreV1Api, namespace: string): Promise<string[]> {
  const labelSelector = `flame-ts.dev/app=${TEST_APP}`;
  const [pods, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace, labelSelector }),
    core.listNamespacedSecret({ namespace, labelSelector }),
  ]);
  return [
    ...pods.items.map((p) => `pod ${p.metadata?.name} ${p.status?.phase}`),
    ...secrets.items.map((s) => `secret ${s.metadata?.name}`),
  ];
}

/** The Docker container that runs a pod's runner container (the kubelet's dockershim names it). */
export async function runnerContainer(
  docker: Dockerode,
  podName: string,
): Promise<Dockerode.Container | null> {
  const found = await docker.listContainers({
    filters: {
      label: [`io.kubernetes.pod.name=${podName}`, "io.kubernetes.container.name=runner"],
    },
  });
  const id = found[0]?.Id;
  return id === undefined ? null : docker.getContainer(id);
}

export function isRunning(pod: V1Pod | undefined): boolean {
  return (
    pod?.status?.containerStatuses?.find((c) => c.name === "runner")?.state?.running !== undefined
  );
}
