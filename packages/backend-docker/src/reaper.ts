/**
 * The orphan reaper: removes flame-ts containers whose parent is gone.
 *
 * Normally nothing is left to reap: a runner-agent exits when it loses its parent (the
 * failsafe) and the daemon auto-removes its container. Orphans come from agents that hang,
 * from `autoRemove: false`, or from containers created but never started when a parent was
 * killed mid-boot. Call `reapOrphans()` once at startup (before `pool.start()`), and, on a long
 * lived host, on an interval (e.g. every few minutes) if you like.
 *
 * How "alive" is decided: every container carries its parent's instance id, host name, pid
 * and that pid's start time (labels `flame-ts.parent*`). By default a parent on this host is
 * alive when that pid exists and started at that time (a reused pid does not count); a parent
 * on another host counts as alive, since it cannot be checked from here — pass
 * `isParentAlive` to judge those (e.g. from a service registry). Parents that booted runners in
 * this process are never reaped, whatever `isParentAlive` says.
 */

import { invalidOption } from "@flame-ts/pool-core";
import { dockerMessage, isGoneOrBusy } from "./docker-errors.js";
import { LABEL, type ParentIdentity, parentFromLabels } from "./labels.js";
import { type DockerConnection, resolveDocker } from "./options.js";
import { ownParentIds } from "./own-parents.js";
import { isParentAliveOnThisHost } from "./parent-liveness.js";

export interface ReapOrphansOptions {
  /** Docker Engine to clean. Default: `new Dockerode()` (DOCKER_HOST or /var/run/docker.sock). */
  readonly docker?: DockerConnection;
  /** Only containers created at least this long ago are considered. Default 0. */
  readonly olderThanMs?: number;
  /** Decides whether a container's parent lives. Default: `isParentAliveOnThisHost`. */
  readonly isParentAlive?: (parent: ParentIdentity) => boolean | Promise<boolean>;
}

export interface ReapedContainer {
  readonly containerId: string;
  readonly name: string;
  readonly runnerId: string;
  readonly parentId: string;
  /** Docker's state at the time: "running", "exited", "created", … */
  readonly state: string;
}

export interface ReapReport {
  readonly removed: readonly ReapedContainer[];
  /** flame-ts containers left in place (live parent, too young, or unreadable labels). */
  readonly kept: number;
  /** Containers that could not be removed, with the daemon's reason. */
  readonly failed: ReadonlyArray<ReapedContainer & { readonly error: string }>;
}

export async function reapOrphans(options: ReapOrphansOptions = {}): Promise<ReapReport> {
  const olderThanMs = options.olderThanMs ?? 0;
  if (!(typeof olderThanMs === "number" && Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
    throw invalidOption("olderThanMs", "a non-negative number of milliseconds", olderThanMs);
  }
  const isAlive = options.isParentAlive ?? isParentAliveOnThisHost;
  if (typeof isAlive !== "function") {
    throw invalidOption("isParentAlive", "a function", isAlive);
  }
  const docker = resolveDocker(options.docker);
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.managed}=true`] },
  });
  const nowMs = Date.now();
  const removed: ReapedContainer[] = [];
  const failed: Array<ReapedContainer & { error: string }> = [];
  let kept = 0;
  for (const info of containers) {
    const parent = parentFromLabels(info.Labels ?? {});
    const young = nowMs - info.Created * 1000 < olderThanMs;
    if (parent === null || young || ownParentIds.has(parent.parentId) || (await isAlive(parent))) {
      kept++;
      continue;
    }
    const entry: ReapedContainer = {
      containerId: info.Id.slice(0, 12),
      name: (info.Names[0] ?? "").replace(/^\//, ""),
      runnerId: info.Labels[LABEL.runner] ?? "",
      parentId: parent.parentId,
      state: info.State,
    };
    try {
      await docker.getContainer(info.Id).remove({ force: true, v: true });
      removed.push(entry);
    } catch (error) {
      if (isGoneOrBusy(error)) removed.push(entry);
      else failed.push({ ...entry, error: dockerMessage(error) });
    }
  }
  return { removed, kept, failed };
}
