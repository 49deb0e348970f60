/**
 * KubernetesBackend: each runner is one Pod, started with FLAME_PARENT from a Secret of its
 * own; the runner-agent inside dials the pool's listener (the parent pod's IP in a cluster).
 * `boot()` resolves once the runner container runs; the pool's host then waits for the
 * agent's hello within the same boot deadline.
 *
 * A boot, step by step:
 *   Secret (FLAME_PARENT; owned by the parent pod in a cluster) → Pod (owned by the parent
 *   pod; labels that no workload selects) → the Secret handed to the pod (ownerReferences,
 *   so the garbage collector removes them together) → the pod followed by watch until its
 *   container runs → the Secret deleted (the kubelet read it when it started the container).
 * A failure retrying cannot fix (an image that cannot be pulled, an invalid spec, a 403 from
 * RBAC, unschedulable past `unschedulableTimeoutMs`) fails the boot at once, permanently.
 */
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  currentParentIdentity,
  FlameError,
  isFlameError,
  parentId,
  untilAborted,
} from "@flame-ts/pool-core";
import { PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { apiMessage, apiStatus, isRetryable, refusalAdvice } from "./api-errors.js";
import { type Cluster, resolveCluster } from "./cluster.js";
import { podGenerateName, type RunnerScope, runnerAnnotations, runnerLabels } from "./labels.js";
import {
  type KubernetesBackendOptions,
  type ResolvedKubernetesBackendOptions,
  resolveKubernetesBackendOptions,
} from "./options.js";
import { PodRunner } from "./pod-runner.js";
import { RUNNER_CONTAINER } from "./pod-status.js";
import { runnerPod } from "./pod-template.js";
import { type ReapOrphansOptions, type ReapReport, reapOrphans } from "./reaper.js";
import { withRetries } from "./retry.js";

type BootStep =
  | "connecting to the API server"
  | "watching runner pods"
  | "creating the runner's Secret"
  | "creating the runner pod"
  | "handing the Secret to its pod"
  | "waiting for the runner container to start";

export class KubernetesBackend implements Backend {
  readonly name = "kubernetes";
  readonly #options: ResolvedKubernetesBackendOptions;
  #cluster: Promise<Cluster> | null = null;

  constructor(options: KubernetesBackendOptions = {}) {
    this.#options = resolveKubernetesBackendOptions(options);
    const { parentPod, image, podTemplate } = this.#options;
    if (parentPod === null && image === null && podTemplate === null) {
      throw new FlameError(
        "INVALID_OPTIONS",
        "Invalid option `image`: required outside a cluster (no POD_NAME from the downward API, no parentPod option). Set image to the runner-agent image.",
        { field: "image" },
      );
    }
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    const options = this.#options;
    const signal = AbortSignal.any([
      req.signal,
      AbortSignal.timeout(Math.max(0, Math.ceil(req.deadlineMs - Date.now()))),
    ]);
    let step: BootStep = "connecting to the API server";
    let cluster: Cluster | null = null;
    let secretName: string | null = null;
    let runner: PodRunner | null = null;
    let releaseWatch = () => {};
    try {
      cluster = await this.#resolveCluster();
      const { core, namespace } = cluster;
      step = "watching runner pods";
      releaseWatch = cluster.watch.hold();
      cluster.watch.onTrouble = (message) => req.log?.("warn", `KubernetesBackend: ${message}`);
      await untilAborted(cluster.watch.ensureStarted(), signal);

      const scope: RunnerScope = {
        app: options.app,
        poolName: req.poolName,
        runnerId: req.runnerId,
        parentId,
      };
      const labels = runnerLabels(scope);
      const annotations = runnerAnnotations(
        scope,
        cluster.owner ? null : currentParentIdentity(parentId),
      );
      const generateName = podGenerateName(options.namePrefix, req.poolName);
      step = "creating the runner's Secret";
      const secret = await withRetries(
        () =>
          core.createNamespacedSecret({
            namespace,
            body: {
              metadata: {
                generateName,
                labels,
                annotations,
                ...(cluster?.owner ? { ownerReferences: [cluster.owner] } : {}),
              },
              type: "Opaque",
              stringData: { ...req.env },
            },
          }),
        signal,
      );
      secretName = secret.metadata?.name ?? "";
      step = "creating the runner pod";
      const body = runnerPod(cluster.base, options, {
        generateName,
        namespace,
        labels,
        annotations,
        owner: cluster.owner,
        secretName,
      });
      requireImage(body);
      const pod = await withRetries(() => core.createNamespacedPod({ namespace, body }), signal);
      runner = new PodRunner(cluster, pod, secretName, options);
      releaseWatch();
      // Handing the Secret over is off the boot's critical path: it runs while the pod starts.
      const podOwner = {
        apiVersion: "v1",
        kind: "Pod",
        name: runner.name,
        uid: pod.metadata?.uid ?? "",
      };
      const handOver = withRetries(
        () =>
          core.patchNamespacedSecret(
            {
              name: secretName ?? "",
              namespace,
              body: { metadata: { ownerReferences: [podOwner] } },
            },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          ),
        signal,
      ).then(
        () => null,
        (error: unknown) => ({ error }),
      );
      step = "waiting for the runner container to start";
      await runner.started(signal);
      const handOverFailure = await handOver;
      if (handOverFailure !== null) {
        step = "handing the Secret to its pod";
        throw handOverFailure.error;
      }
      void runner.deleteSecret();
      return runner;
    } catch (error) {
      releaseWatch();
      if (runner !== null) void runner.stop();
      else if (secretName !== null && cluster !== null) {
        const { core, namespace } = cluster;
        void core.deleteNamespacedSecret({ name: secretName, namespace }).catch(() => {});
      }
      throw bootError(error, { req, signal, step, runner });
    }
  }

  /**
   * Removes runner pods (and their Secrets) left by parents that are gone, for parents that
   * run outside the cluster; runners of a parent pod need none of this (the garbage collector
   * removes them with it). See `reapOrphans` for the rule.
   */
  async reapOrphans(
    options: Omit<ReapOrphansOptions, "core" | "namespace" | "app"> = {},
  ): Promise<ReapReport> {
    const cluster = await this.#resolveCluster();
    return reapOrphans({
      ...options,
      core: cluster.core,
      namespace: cluster.namespace,
      app: this.#options.app,
    });
  }

  /** Resolved once; a failure (API down, parent pod unreadable) is tried again on the next boot. */
  #resolveCluster(): Promise<Cluster> {
    this.#cluster ??= resolveCluster(this.#options);
    this.#cluster.catch(() => {
      this.#cluster = null;
    });
    return this.#cluster;
  }
}

function requireImage(pod: V1Pod): void {
  const runner = pod.spec?.containers.find((c) => c.name === RUNNER_CONTAINER);
  if (!runner?.image) {
    throw new FlameError(
      "BOOT_FAILED",
      `KubernetesBackend: the runner pod has no image for its "${RUNNER_CONTAINER}" container: set the image option (or the podTemplate's).`,
      { permanent: true },
    );
  }
}

function bootError(
  error: unknown,
  ctx: { req: BootRequest; signal: AbortSignal; step: BootStep; runner: PodRunner | null },
): FlameError {
  const { req, signal, step, runner } = ctx;
  const where = runner ? ` (pod ${runner.name})` : "";
  if (isFlameError(error)) {
    if (error.code === "BOOT_FAILED" || error.code === "INVALID_OPTIONS") return error;
  }
  if (signal.aborted && !isApiError(error)) {
    const why = req.signal.aborted ? "the boot was aborted" : "the boot deadline passed";
    return new FlameError(
      "BOOT_FAILED",
      `Kubernetes runner ${req.runnerId}${where}: ${why} while ${step}.`,
      {
        cause: error,
        runnerId: req.runnerId,
      },
    );
  }
  const status = apiStatus(error);
  const permanent = status !== null && !isRetryable(error);
  const advice = permanent ? ` ${refusalAdvice(error)}` : "";
  const code = status === null ? "" : ` (HTTP ${status})`;
  return new FlameError(
    "BOOT_FAILED",
    `Kubernetes runner ${req.runnerId}${where}: ${step} failed${code}: ${apiMessage(error)}.${advice}`.replace(
      /\.\.(\s|$)/,
      ".$1",
    ),
    { cause: error, runnerId: req.runnerId, permanent },
  );
}

function isApiError(error: unknown): boolean {
  return apiStatus(error) !== null;
}
