/**
 * Orphan reaping: destroy runner Machines whose parent is gone.
 *
 * A runner exits by itself when its parent link drops (the agent's failsafe), and auto_destroy
 * removes its Machine; the reaper is the second line for what that misses (a Machine stuck
 * before the agent started, an agent that could not run). Fly's list endpoint filters by one
 * metadata value, not by "has key", so we list the app's Machines and keep the flame-ts ones.
 */
import { FlyApiError, type FlyMachinesClient } from "./client.js";
import { FLAME_METADATA, type Machine } from "./machines-api.js";

export interface ReapOptions {
  /**
   * Is the parent with this id (and, when it ran on Fly, this Machine id) still alive?
   * Default: alive unless its parent Machine (metadata `flame_parent_machine`) is gone or not
   * started. Machines without that key are kept unless you pass this function.
   */
  readonly isParentAlive?: (
    parentId: string,
    parentMachineId: string | undefined,
  ) => boolean | Promise<boolean>;
  /** Only Machines created at least this long ago (protects boots in flight). Default 60_000. */
  readonly olderThanMs?: number;
  /** Only this pool's Machines (`metadata.flame_pool`). Default every pool. */
  readonly pool?: string;
  /** Parent ids never reaped (the caller's own). FlyBackend adds its own automatically. */
  readonly ownParentIds?: Iterable<string>;
  readonly signal?: AbortSignal;
}

export interface ReapResult {
  /** Machine ids destroyed. */
  readonly destroyed: string[];
  /** flame-ts Machine ids left alone (parent alive, own parent, too young, already gone). */
  readonly kept: string[];
}

const LIVE_STATES = new Set([
  "created",
  "starting",
  "started",
  "updating",
  "replacing",
  "restarting",
]);

export async function reapOrphans(
  client: FlyMachinesClient,
  options: ReapOptions = {},
): Promise<ReapResult> {
  const signalOption = options.signal ? { signal: options.signal } : {};
  const own = new Set(options.ownParentIds ?? []);
  const olderThanMs = options.olderThanMs ?? 60_000;
  const machines = await client.listMachines(
    options.pool ? { metadata: { [FLAME_METADATA.pool]: options.pool } } : {},
    signalOption,
  );
  const parentAlive = new Map<string, Promise<boolean>>();
  const isAlive =
    options.isParentAlive ??
    ((_parentId: string, parentMachineId: string | undefined) =>
      parentMachineId === undefined
        ? true
        : parentMachineIsLive(client, parentMachineId, options.signal));

  const result: ReapResult = { destroyed: [], kept: [] };
  for (const machine of machines) {
    const parentId = machine.config.metadata?.[FLAME_METADATA.parent];
    if (parentId === undefined || machine.state === "destroyed" || machine.state === "destroying")
      continue;
    const parentMachineId = machine.config.metadata?.[FLAME_METADATA.parentMachine];
    if (own.has(parentId) || ageMs(machine) < olderThanMs) {
      result.kept.push(machine.id);
      continue;
    }
    const key = `${parentId}/${parentMachineId ?? ""}`;
    let alive = parentAlive.get(key);
    if (alive === undefined) {
      alive = Promise.resolve(isAlive(parentId, parentMachineId));
      parentAlive.set(key, alive);
    }
    if (await alive) {
      result.kept.push(machine.id);
      continue;
    }
    try {
      await client.destroyMachine(machine.id, true, signalOption);
      result.destroyed.push(machine.id);
    } catch (error) {
      if (error instanceof FlyApiError && error.status === 404) continue;
      throw error;
    }
  }
  return result;
}

function ageMs(machine: Machine): number {
  const createdAtMs = Date.parse(machine.created_at);
  return Number.isNaN(createdAtMs) ? Number.POSITIVE_INFINITY : Date.now() - createdAtMs;
}

async function parentMachineIsLive(
  client: FlyMachinesClient,
  machineId: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    const parent = await client.getMachine(machineId, signal ? { signal } : {});
    return LIVE_STATES.has(parent.state);
  } catch (error) {
    if (error instanceof FlyApiError && error.status === 404) return false;
    throw error;
  }
}
