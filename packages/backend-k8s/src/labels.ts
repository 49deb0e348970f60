/**
 * The labels and annotations every runner pod (and its Secret) carries.
 *
 * Labels are for selection: the backend's watch and `reapOrphans` list by them. They are all
 * under `flame-ts.dev/`, and the runner pod carries none of the parent pod's own labels: a
 * Deployment's ReplicaSet selects pods by labels like `app: web`, and a runner pod that
 * matched its selector would be counted (or adopted) by it and reached by its Services.
 * What the parent *is* (for the reaper's liveness proof) goes in annotations, which allow any
 * characters and select nothing.
 */
import type { ParentIdentity } from "@flame-ts/pool-core";

export const LABEL = {
  /** Present on every pod and Secret flame-ts creates; watches and the reaper select by it. */
  managed: "flame-ts.dev/managed",
  /** The app scope (KubernetesBackend `app`): a reaper only ever looks at its own app's pods. */
  app: "flame-ts.dev/app",
  pool: "flame-ts.dev/pool",
  runner: "flame-ts.dev/runner",
  /** The parent's instance id (one per process hosting pools). */
  parent: "flame-ts.dev/parent",
} as const;

export const ANNOTATION = {
  /** The parent's identity as JSON (ParentIdentity), for `reapOrphans` outside a cluster. */
  parentIdentity: "flame-ts.dev/parent-identity",
  /** The runner id unshortened (the label value is cut to 63 characters). */
  runnerId: "flame-ts.dev/runner-id",
} as const;

/** The app scope used when none is given. */
export const DEFAULT_APP = "default";

/** Keys under this prefix are reserved for flame-ts in user-given labels and annotations. */
export const RESERVED_PREFIX = "flame-ts.dev/";

export interface RunnerScope {
  readonly app: string;
  readonly poolName: string;
  readonly runnerId: string;
  readonly parentId: string;
}

export function runnerLabels(scope: RunnerScope): Record<string, string> {
  return {
    [LABEL.managed]: "true",
    [LABEL.app]: scope.app,
    [LABEL.pool]: labelValue(scope.poolName),
    [LABEL.runner]: labelValue(scope.runnerId),
    [LABEL.parent]: labelValue(scope.parentId),
  };
}

export function runnerAnnotations(
  scope: RunnerScope,
  identity: ParentIdentity | null,
): Record<string, string> {
  return {
    [ANNOTATION.runnerId]: scope.runnerId,
    ...(identity === null ? {} : { [ANNOTATION.parentIdentity]: JSON.stringify(identity) }),
  };
}

/** The label selector of one app's runners, optionally of one parent only. */
export function appSelector(app: string, parentId?: string): string {
  const parts = [`${LABEL.managed}=true`, `${LABEL.app}=${app}`];
  if (parentId !== undefined) parts.push(`${LABEL.parent}=${labelValue(parentId)}`);
  return parts.join(",");
}

/**
 * A label value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric. Anything else
 * becomes '-'; the full value, where it matters, is kept in an annotation.
 */
export function labelValue(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return cleaned === "" ? "x" : cleaned;
}

/**
 * A pod's `generateName`: DNS-1123 (lower case alphanumerics and '-'), short enough that the
 * five random characters Kubernetes appends keep the name a valid 63-character host name.
 */
export function podGenerateName(prefix: string, poolName: string): string {
  const base = `${prefix}${poolName}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+/, "")
    .slice(0, 57)
    .replace(/-+$/, "");
  return `${base === "" ? "flame" : base}-`;
}

/** Reads a parent identity back from annotations; null when absent or malformed (kept by the reaper). */
export function parentFromAnnotations(
  annotations: Readonly<Record<string, string>> | undefined,
): ParentIdentity | null {
  const text = annotations?.[ANNOTATION.parentIdentity];
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as Partial<ParentIdentity>;
    const nullableString = (x: unknown) => x === null || typeof x === "string";
    if (
      typeof v.parentId !== "string" ||
      v.parentId === "" ||
      typeof v.host !== "string" ||
      !nullableString(v.bootId) ||
      !nullableString(v.pidNamespace) ||
      !Number.isSafeInteger(v.pid) ||
      (v.pid as number) <= 0 ||
      !(
        v.startTicks === null ||
        (Number.isSafeInteger(v.startTicks) && (v.startTicks as number) >= 0)
      )
    ) {
      return null;
    }
    return {
      parentId: v.parentId,
      host: v.host,
      bootId: v.bootId ?? null,
      pidNamespace: v.pidNamespace ?? null,
      pid: v.pid as number,
      startTicks: v.startTicks ?? null,
    };
  } catch {
    return null;
  }
}
