/**
 * The orphan reaper: removes one app's flame-ts containers whose parent is gone.
 *
 * Normally nothing is left to reap: a runner-agent exits when it loses its parent (the
 * failsafe) and the daemon auto-removes its container. Orphans come from agents that hang,
 * from `autoRemove: false`, or from containers created but never started when a parent was
 * killed mid-boot. Call `reapOrphans()` once at startup (before `pool.start()`), and, on a long
 * lived host, on an interval (e.g. every few minutes) if you like.
 *
 * When in doubt, keep it. A container is removed only when all of these hold:
 *   - it carries this app's scope label (`app`): two apps sharing a daemon never see each
 *     other's containers;
 *   - it was created at least `olderThanMs` ago (default one minute), so a container still
 *     booting is never touched, whatever a callback says about its parent;
 *   - its labels name a parent, that parent did not boot runners in this process, and
 *     `isParentAlive` says false (the default proves death from /proc: same boot, same pid
 *     namespace, pid gone or reused — see pool-core's parent-identity.ts). A callback that throws keeps it.
 *
 * Then the app's network (DockerBackend's default `flame-ts-<app>`, network.ts) is removed if
 * it is at least `olderThanMs` old and no container uses it (the daemon refuses otherwise).
 * A live parent of the app loses nothing: its next boot creates it again on the same subnet.
 */

import { invalidOption, isParentAliveOnThisHost, type ParentIdentity } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import { dockerMessage, isGoneOrBusy } from "./docker-errors.js";
import { appFilter, DEFAULT_APP, LABEL, parentFromLabels } from "./labels.js";
import { type DockerConnection, resolveDocker, validateApp } from "./options.js";
import { ownParentIds } from "./own-parents.js";

/** Default `olderThanMs`: far longer than a container takes to be created, started and say hello. */
export const DEFAULT_REAP_OLDER_THAN_MS = 60_000;

export interface ReapOrphansOptions {
  /** Docker Engine to clean. Default: `new Dockerode()` (DOCKER_HOST or /var/run/docker.sock). */
  readonly docker?: DockerConnection;
  /**
   * The app scope to clean: only containers labelled with it are considered. Use the same
   * value as the DockerBackend's `app`. Default "default".
   */
  readonly app?: string;
  /**
   * Only containers created at least this long ago (by the daemon's clock) are considered.
   * Default 60,000 ms; must be > 0, so a container still starting is never reaped.
   */
  readonly olderThanMs?: number;
  /**
   * Decides whether a container's parent lives. Default: `isParentAliveOnThisHost`, which
   * says "dead" only when /proc proves it. A rejection or throw keeps the container.
   */
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
  /** This app's containers left in place (live or unjudgeable parent, too young, unreadable labels). */
  readonly kept: number;
  /** Containers that could not be removed, with the daemon's reason. */
  readonly failed: ReadonlyArray<ReapedContainer & { readonly error: string }>;
  /** Names of the app's networks removed (unused, old enough); one in use is kept silently. */
  readonly removedNetworks: readonly string[];
}

export async function reapOrphans(options: ReapOrphansOptions = {}): Promise<ReapReport> {
  const olderThanMs = options.olderThanMs ?? DEFAULT_REAP_OLDER_THAN_MS;
  if (!(typeof olderThanMs === "number" && Number.isFinite(olderThanMs) && olderThanMs > 0)) {
    throw invalidOption(
      "olderThanMs",
      "a positive number of milliseconds (a container younger than this may still be starting)",
      olderThanMs,
    );
  }
  const app = validateApp(options.app ?? DEFAULT_APP);
  const isAlive = options.isParentAlive ?? isParentAliveOnThisHost;
  if (typeof isAlive !== "function") {
    throw invalidOption("isParentAlive", "a function", isAlive);
  }
  const docker = resolveDocker(options.docker);
  const containers = await docker.listContainers({ all: true, filters: { label: appFilter(app) } });
  const nowMs = Date.now();
  const removed: ReapedContainer[] = [];
  const failed: Array<ReapedContainer & { error: string }> = [];
  let kept = 0;
  for (const info of containers) {
    const labels = info.Labels ?? {};
    const parent = parentFromLabels(labels);
    // Created is whole seconds of the daemon's clock: count from the end of that second, and
    // if our clock is behind the daemon's, the age comes out small and the container is kept.
    const oldEnough = nowMs - (info.Created + 1) * 1000 >= olderThanMs;
    const orphan =
      parent !== null &&
      oldEnough &&
      labels[LABEL.app] === app &&
      !ownParentIds.has(parent.parentId) &&
      (await provedDead(isAlive, parent));
    if (!orphan) {
      kept++;
      continue;
    }
    const entry: ReapedContainer = {
      containerId: info.Id.slice(0, 12),
      name: (info.Names[0] ?? "").replace(/^\//, ""),
      runnerId: labels[LABEL.runner] ?? "",
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
  const removedNetworks = await reapNetworks(docker, app, nowMs, olderThanMs);
  return { removed, kept, failed, removedNetworks };
}

/** The app's networks that no container uses; "in use" and "already gone" both keep quiet. */
async function reapNetworks(
  docker: Dockerode,
  app: string,
  nowMs: number,
  olderThanMs: number,
): Promise<string[]> {
  const networks = await docker.listNetworks({ filters: { label: appFilter(app) } });
  const removed: string[] = [];
  for (const info of networks) {
    const createdMs = Date.parse(info.Created ?? "");
    // An unreadable date keeps it, like a container whose age is unknown.
    if (!(nowMs - createdMs >= olderThanMs) || info.Labels?.[LABEL.app] !== app) continue;
    try {
      await docker.getNetwork(info.Id).remove();
      removed.push(info.Name);
    } catch {
      // 403 "has active endpoints": a runner uses it. 404: someone else removed it.
    }
  }
  return removed;
}

/** Only an explicit `false` is death; a throw, a rejection or any other value keeps it. */
async function provedDead(
  isAlive: (parent: ParentIdentity) => boolean | Promise<boolean>,
  parent: ParentIdentity,
): Promise<boolean> {
  try {
    return (await isAlive(parent)) === false;
  } catch {
    return false;
  }
}
