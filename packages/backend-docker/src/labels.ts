/**
 * The labels every flame-ts container carries. They let `reapOrphans` find the containers of
 * one app and decide whether the parent that booted them still lives, with nothing but the
 * Docker API. What a parent identity *is* lives in pool-core's parent-identity.ts; this file only writes
 * it into labels and reads it back.
 */
import type { ParentIdentity } from "@flame-ts/pool-core";

export const LABEL = {
  /** Present on every container flame-ts starts; the reaper lists by it. */
  managed: "flame-ts.managed",
  /** The app scope (DockerBackend `app`): a reaper only ever looks at its own app's containers. */
  app: "flame-ts.app",
  pool: "flame-ts.pool",
  runner: "flame-ts.runner",
  /** The parent's instance id (one per process hosting pools). */
  parent: "flame-ts.parent",
  /** The parent's host name (informational). */
  parentHost: "flame-ts.parent-host",
  /** Kernel boot id of the parent's machine. */
  parentBootId: "flame-ts.parent-boot-id",
  /** Inode of the parent's pid namespace. */
  parentPidNamespace: "flame-ts.parent-pid-ns",
  parentPid: "flame-ts.parent-pid",
  /** The parent's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  parentStartTicks: "flame-ts.parent-start-ticks",
} as const;

/** The app scope used when none is given. */
export const DEFAULT_APP = "default";

export function runnerLabels(
  identity: ParentIdentity,
  scope: { readonly app: string; readonly poolName: string; readonly runnerId: string },
): Record<string, string> {
  return {
    [LABEL.managed]: "true",
    [LABEL.app]: scope.app,
    [LABEL.pool]: scope.poolName,
    [LABEL.runner]: scope.runnerId,
    [LABEL.parent]: identity.parentId,
    [LABEL.parentHost]: identity.host,
    [LABEL.parentBootId]: identity.bootId ?? "",
    [LABEL.parentPidNamespace]: identity.pidNamespace ?? "",
    [LABEL.parentPid]: String(identity.pid),
    [LABEL.parentStartTicks]: identity.startTicks === null ? "" : String(identity.startTicks),
  };
}

/** The label filter that selects one app's containers (for `docker.listContainers`). */
export function appFilter(app: string): string[] {
  return [`${LABEL.managed}=true`, `${LABEL.app}=${app}`];
}

/**
 * Reads a parent identity back from labels; null when a label is missing or malformed (the
 * reaper keeps such containers: it cannot tell whose they are).
 */
export function parentFromLabels(labels: Readonly<Record<string, string>>): ParentIdentity | null {
  const parentId = labels[LABEL.parent];
  const host = labels[LABEL.parentHost];
  const bootId = labels[LABEL.parentBootId];
  const pidNamespace = labels[LABEL.parentPidNamespace];
  const pid = Number(labels[LABEL.parentPid]);
  const ticksText = labels[LABEL.parentStartTicks];
  const startTicks = ticksText === "" ? null : Number(ticksText);
  if (!parentId || host === undefined || bootId === undefined || pidNamespace === undefined) {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  if (startTicks !== null && !(Number.isSafeInteger(startTicks) && startTicks >= 0)) return null;
  return {
    parentId,
    host,
    bootId: bootId === "" ? null : bootId,
    pidNamespace: pidNamespace === "" ? null : pidNamespace,
    pid,
    startTicks,
  };
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; anything else becomes '-'. */
export function containerName(prefix: string, runnerId: string): string {
  const name = `${prefix}${runnerId}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
  return /^[a-zA-Z0-9]/.test(name) ? name : `r${name}`;
}
