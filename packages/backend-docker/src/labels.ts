/**
 * The labels every flame-ts container carries. They let `reapOrphans` find containers and
 * decide whether the parent that booted them still lives, with nothing but the Docker API.
 */
import { hostname } from "node:os";
import { processStartedMs } from "./parent-liveness.js";

export const LABEL = {
  /** Present on every container flame-ts starts; the reaper lists by it. */
  managed: "flame-ts.managed",
  pool: "flame-ts.pool",
  runner: "flame-ts.runner",
  /** The parent's instance id (one per process hosting pools). */
  parent: "flame-ts.parent",
  /** Where the parent runs: host name, pid, and the pid's start time (epoch ms). */
  parentHost: "flame-ts.parent-host",
  parentPid: "flame-ts.parent-pid",
  parentStartedMs: "flame-ts.parent-started-ms",
} as const;

/** Who the parent is, as written in labels; `startedMs` tells a live pid from a reused one. */
export interface ParentIdentity {
  readonly parentId: string;
  readonly host: string;
  readonly pid: number;
  readonly startedMs: number;
}

/**
 * This process as a parent. The start time comes from the same source the reaper checks
 * (/proc on Linux), so the two agree; elsewhere from the process uptime.
 */
export function currentParentIdentity(parentId: string): ParentIdentity {
  const startedMs = processStartedMs(process.pid) ?? Date.now() - process.uptime() * 1000;
  return { parentId, host: hostname(), pid: process.pid, startedMs: Math.round(startedMs) };
}

export function runnerLabels(
  identity: ParentIdentity,
  poolName: string,
  runnerId: string,
): Record<string, string> {
  return {
    [LABEL.managed]: "true",
    [LABEL.pool]: poolName,
    [LABEL.runner]: runnerId,
    [LABEL.parent]: identity.parentId,
    [LABEL.parentHost]: identity.host,
    [LABEL.parentPid]: String(identity.pid),
    [LABEL.parentStartedMs]: String(identity.startedMs),
  };
}

/** Reads a parent identity back from labels; null when a label is missing or malformed. */
export function parentFromLabels(labels: Readonly<Record<string, string>>): ParentIdentity | null {
  const parentId = labels[LABEL.parent];
  const host = labels[LABEL.parentHost];
  const pid = Number(labels[LABEL.parentPid]);
  const startedMs = Number(labels[LABEL.parentStartedMs]);
  if (!parentId || !host || !Number.isInteger(pid) || pid <= 0 || !Number.isFinite(startedMs)) {
    return null;
  }
  return { parentId, host, pid, startedMs };
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; anything else becomes '-'. */
export function containerName(prefix: string, runnerId: string): string {
  const name = `${prefix}${runnerId}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
  return /^[a-zA-Z0-9]/.test(name) ? name : `r${name}`;
}
