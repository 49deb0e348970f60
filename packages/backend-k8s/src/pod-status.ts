/**
 * What a runner pod's status says, as one of four facts the backend acts on. Pure: no I/O.
 *
 * The phase alone misleads: a pod whose image cannot be pulled stays `Pending` forever, with
 * the reason only in its container's `waiting` state, so the container statuses are read first.
 */
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

/** The runner container's name in every pod flame-ts creates. */
export const RUNNER_CONTAINER = "runner";

/**
 * Waiting reasons that retrying the same pod cannot fix: the boot fails at once with them.
 * (Kubernetes keeps retrying a pull in the background, but a missing image or a bad reference
 * does not appear by itself within a boot's few seconds.)
 */
export const PERMANENT_WAITING_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

export type PodFacts =
  /** Not started yet; `unschedulable` holds the scheduler's message while no node fits. */
  | { readonly kind: "pending"; readonly unschedulable: string | null }
  /** The runner container cannot start, and will not by waiting. */
  | { readonly kind: "cannotStart"; readonly reason: string; readonly message: string }
  | { readonly kind: "running" }
  /** The runner container (or the whole pod) ended. */
  | { readonly kind: "ended"; readonly code: number | null; readonly reason: string };

export function podFacts(pod: V1Pod): PodFacts {
  const status = pod.status;
  const runner = status?.containerStatuses?.find((c) => c.name === RUNNER_CONTAINER);
  const terminated = runner?.state?.terminated;
  if (terminated) {
    return { kind: "ended", code: terminated.exitCode, reason: terminatedReason(terminated) };
  }
  if (status?.phase === "Failed" || status?.phase === "Succeeded") {
    // Evicted, DeadlineExceeded (activeDeadlineSeconds), node lost: the pod's own reason.
    const why = [status.reason, status.message].filter(Boolean).join(": ");
    return {
      kind: "ended",
      code: null,
      reason: `pod ${status.phase.toLowerCase()}${why ? ` (${why})` : ""}`,
    };
  }
  const blocked = [...(status?.initContainerStatuses ?? []), ...(runner ? [runner] : [])]
    .map(permanentWaiting)
    .find((x) => x !== null);
  if (blocked) return blocked;
  if (runner?.state?.running) return { kind: "running" };
  const scheduled = status?.conditions?.find((c) => c.type === "PodScheduled");
  const unschedulable =
    scheduled?.status === "False" && scheduled.reason === "Unschedulable"
      ? (scheduled.message ?? "no node fits the pod")
      : null;
  return { kind: "pending", unschedulable };
}

/** The facts a dashboard shows: pod name, node and phase. */
export function podMeta(pod: V1Pod): Record<string, string> {
  return {
    pod: pod.metadata?.name ?? "",
    namespace: pod.metadata?.namespace ?? "",
    node: pod.spec?.nodeName ?? "",
    phase: pod.status?.phase ?? "Pending",
    ...(pod.status?.podIP ? { podIP: pod.status.podIP } : {}),
  };
}

/**
 * The kubelet's own hiccups wear the same reasons as a broken spec ("failed to sync secret
 * cache: timed out waiting for the condition" is a CreateContainerConfigError the kubelet
 * retries, measured here while the Node authorizer had not yet linked a new pod to its
 * Secret); they are waited out within the boot deadline.
 */
const TRANSIENT_MESSAGE = /failed to sync .* cache|timed out waiting for the condition/i;

function permanentWaiting(container: V1ContainerStatus): PodFacts | null {
  const waiting = container.state?.waiting;
  if (!waiting?.reason || !PERMANENT_WAITING_REASONS.has(waiting.reason)) return null;
  if (TRANSIENT_MESSAGE.test(waiting.message ?? "")) return null;
  return {
    kind: "cannotStart",
    reason: waiting.reason,
    message: `container "${container.name}": ${waiting.message ?? waiting.reason}`,
  };
}

function terminatedReason(
  t: NonNullable<NonNullable<V1ContainerStatus["state"]>["terminated"]>,
): string {
  const parts = [`exit code ${t.exitCode}`];
  if (t.reason) parts.unshift(t.reason);
  return `container ${parts.join(", ")}${t.message ? `: ${t.message.trim()}` : ""}`;
}
