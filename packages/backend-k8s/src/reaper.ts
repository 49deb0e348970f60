/**
 * The orphan reaper for parents outside a cluster: removes one app's runner pods (and their
 * Secrets) whose parent is gone. A parent pod's runners need none of this: they are owned by
 * it, and Kubernetes' garbage collector removes them with it.
 *
 * Normally nothing is left to reap: a runner-agent exits when it loses its parent (the
 * failsafe) and the backend deletes pods that ended. Orphans come from a parent killed while
 * it booted a runner or before it could delete an ended one. Call `reapOrphans()` at startup.
 *
 * When in doubt, keep it. A pod or Secret is removed only when all of these hold:
 *   - it carries this app's labels (`app`), so two apps sharing a namespace never meet;
 *   - it has no owner (a parent pod's runners are the garbage collector's business);
 *   - it was created at least `olderThanMs` ago (default one minute), so a boot under way is
 *     never touched;
 *   - its annotations name a parent that is not this process, and `isParentAlive` says
 *     false (the default proves death from /proc: same machine, same boot, same pid
 *     namespace, pid gone or reused). A callback that throws keeps it.
 */
import {
  invalidOption,
  isParentAliveOnThisHost,
  parentId as ownParentId,
  type ParentIdentity,
} from "@flame-ts/pool-core";
import type { CoreV1Api, V1ObjectMeta } from "@kubernetes/client-node";
import { apiMessage, apiStatus } from "./api-errors.js";
import { appSelector, LABEL, parentFromAnnotations } from "./labels.js";

/** Default `olderThanMs`: far longer than a pod takes to be created, scheduled and say hello. */
export const DEFAULT_REAP_OLDER_THAN_MS = 60_000;

export interface ReapOrphansOptions {
  readonly core: CoreV1Api;
  readonly namespace: string;
  /** The app scope to clean (the backend's `app`). */
  readonly app: string;
  /** Only objects created at least this long ago (by the API server's clock). Default 60,000 ms. */
  readonly olderThanMs?: number;
  /** Decides whether a parent lives. Default: `isParentAliveOnThisHost`. A throw keeps the object. */
  readonly isParentAlive?: (parent: ParentIdentity) => boolean | Promise<boolean>;
}

export interface ReapedObject {
  readonly kind: "Pod" | "Secret";
  readonly name: string;
  readonly runnerId: string;
  readonly parentId: string;
}

export interface ReapReport {
  readonly removed: readonly ReapedObject[];
  /** This app's pods and Secrets left in place (live, owned, unjudgeable, too young). */
  readonly kept: number;
  readonly failed: ReadonlyArray<ReapedObject & { readonly error: string }>;
}

export async function reapOrphans(options: ReapOrphansOptions): Promise<ReapReport> {
  const olderThanMs = options.olderThanMs ?? DEFAULT_REAP_OLDER_THAN_MS;
  if (!(typeof olderThanMs === "number" && Number.isFinite(olderThanMs) && olderThanMs > 0)) {
    throw invalidOption("olderThanMs", "a positive number of milliseconds", olderThanMs);
  }
  const isAlive = options.isParentAlive ?? isParentAliveOnThisHost;
  if (typeof isAlive !== "function") throw invalidOption("isParentAlive", "a function", isAlive);
  const { core, namespace } = options;
  const labelSelector = appSelector(options.app);
  const [pods, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace, labelSelector }),
    core.listNamespacedSecret({ namespace, labelSelector }),
  ]);
  const nowMs = Date.now();
  const removed: ReapedObject[] = [];
  const failed: Array<ReapedObject & { error: string }> = [];
  let kept = 0;
  const candidates = [
    ...pods.items.map((p) => ({ kind: "Pod" as const, metadata: p.metadata })),
    ...secrets.items.map((s) => ({ kind: "Secret" as const, metadata: s.metadata })),
  ];
  for (const { kind, metadata } of candidates) {
    const parent = await orphanParent(metadata, options.app, olderThanMs, nowMs, isAlive);
    if (parent === null || metadata?.name === undefined) {
      kept++;
      continue;
    }
    const entry: ReapedObject = {
      kind,
      name: metadata.name,
      runnerId:
        metadata.annotations?.["flame-ts.dev/runner-id"] ?? metadata.labels?.[LABEL.runner] ?? "",
      parentId: parent.parentId,
    };
    try {
      if (kind === "Pod")
        await core.deleteNamespacedPod({ name: entry.name, namespace, gracePeriodSeconds: 0 });
      else await core.deleteNamespacedSecret({ name: entry.name, namespace });
      removed.push(entry);
    } catch (error) {
      if (apiStatus(error) === 404) removed.push(entry);
      else failed.push({ ...entry, error: apiMessage(error) });
    }
  }
  return { removed, kept, failed };
}

/** The dead parent of an orphan, or null to keep the object. */
async function orphanParent(
  metadata: V1ObjectMeta | undefined,
  app: string,
  olderThanMs: number,
  nowMs: number,
  isAlive: (parent: ParentIdentity) => boolean | Promise<boolean>,
): Promise<ParentIdentity | null> {
  if (metadata?.labels?.[LABEL.app] !== app) return null;
  if ((metadata.ownerReferences ?? []).length > 0) return null;
  const created = metadata.creationTimestamp
    ? new Date(metadata.creationTimestamp).getTime()
    : Number.NaN;
  // Whole seconds of the server's clock: count from the end of that second.
  if (!(nowMs - (created + 1000) >= olderThanMs)) return null;
  const parent = parentFromAnnotations(metadata.annotations);
  if (parent === null || parent.parentId === ownParentId) return null;
  try {
    return (await isAlive(parent)) === false ? parent : null;
  } catch {
    return null;
  }
}
