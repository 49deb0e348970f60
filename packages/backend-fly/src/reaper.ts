/**
 * Orphan reaping: destroy runner Machines whose parent is gone.
 *
 * A runner exits by itself when its parent link drops (the agent's failsafe); the reaper is the
 * second line for what that misses (a Machine stuck before the agent started, an agent that
 * could not run). Rules:
 * - The parent Machine is looked up in ITS OWN app (`flame_parent_app`), which may differ from
 *   the runners' app. It is dead when Fly says so (stopped/destroyed, or gone from a list of
 *   that app we could read) or when it runs another version than the one that booted the
 *   runner (`flame_parent_instance`: restarted in place by a deploy). Anything else — an API
 *   error, a token that cannot read the parent's app, an unfamiliar state — counts as alive:
 *   never reap in doubt.
 * - Warm Machines (stopped, `flame_warm`) belong to no one runner: they are kept while some
 *   parent of the app is alive (or the caller keeps a warm pool), destroyed when none is.
 * - A request Fly did not answer about (429, 5xx, no answer) says nothing about any Machine: it
 *   is retried with backoff for up to REAP_RETRY_MS per reap (pacing cannot rule out a 429:
 *   another process may use the same budget), then the last failure counts as before (the
 *   list's or a destroy's fails the reap; a parent lookup's means alive).
 */
import { FlyApiError, type FlyMachinesClient } from "./client.js";
import { FLAME_METADATA, type Machine } from "./machines-api.js";
import { isUnanswered, retrying } from "./retry.js";

/** How long one reap keeps retrying requests Fly did not answer (429, 5xx, no answer). */
const REAP_RETRY_MS = 30_000;

/** Where a runner's parent ran, as recorded in the runner's metadata. */
export interface ParentRef {
  readonly machineId: string | undefined;
  readonly app: string | undefined;
  readonly instanceId: string | undefined;
}

export interface ReapOptions {
  /**
   * Is the parent with this id still alive? Default: asks Fly about its Machine (see above);
   * a runner without `flame_parent_machine` is kept. A throw counts as alive.
   */
  readonly isParentAlive?: (
    parentId: string,
    parentMachineId: string | undefined,
    parent: ParentRef,
  ) => boolean | Promise<boolean>;
  /** Only Machines created at least this long ago (protects boots in flight). Default 60_000. */
  readonly olderThanMs?: number;
  /** Only this pool's Machines (`metadata.flame_pool`). Default every pool. */
  readonly pool?: string;
  /** Parent ids never reaped (the caller's own). FlyBackend adds its own automatically. */
  readonly ownParentIds?: Iterable<string>;
  /** Keep warm Machines whatever their parents (FlyBackend: true when it has a warm pool). */
  readonly keepWarm?: boolean;
  readonly signal?: AbortSignal;
}

export interface ReapResult {
  /** Machine ids destroyed. */
  readonly destroyed: string[];
  /** flame-ts Machine ids left alone (parent alive, own parent, too young, warm, gone). */
  readonly kept: string[];
}

/** Parent states that mean its process is gone. */
const DEAD_STATES = new Set(["stopped", "destroyed", "destroying", "failed", "replaced"]);

export async function reapOrphans(
  client: FlyMachinesClient,
  options: ReapOptions = {},
): Promise<ReapResult> {
  const signalOption = options.signal ? { signal: options.signal } : {};
  const own = new Set(options.ownParentIds ?? []);
  const olderThanMs = options.olderThanMs ?? 60_000;
  const deadlineMs = Date.now() + REAP_RETRY_MS;
  const retry: Retry = (action) =>
    retrying(action, options.signal, { retryable: isUnanswered, deadlineMs });
  const query = options.pool ? { metadata: { [FLAME_METADATA.pool]: options.pool } } : {};
  const machines = (await retry(() => client.listMachines(query, signalOption))).filter(
    (m) =>
      m.config.metadata?.[FLAME_METADATA.parent] !== undefined &&
      m.state !== "destroyed" &&
      m.state !== "destroying",
  );
  const liveness = new ParentLiveness(client, options, retry);
  const isAlive = async (machine: Machine): Promise<boolean> => {
    const parentId = machine.config.metadata?.[FLAME_METADATA.parent] ?? "";
    return own.has(parentId) || liveness.isAlive(parentId, parentOf(machine));
  };

  const result: ReapResult = { destroyed: [], kept: [] };
  const destroy = async (machine: Machine) => {
    let maybeDone = false; // a destroy that got no answer (5xx, none) may have been done
    try {
      await retry(() =>
        client.destroyMachine(machine.id, true, signalOption).catch((error: unknown) => {
          if (error instanceof FlyApiError && (error.status === 0 || error.status >= 500))
            maybeDone = true;
          throw error;
        }),
      );
      result.destroyed.push(machine.id);
    } catch (error) {
      if (error instanceof FlyApiError && error.status === 404) {
        if (maybeDone) result.destroyed.push(machine.id); // gone by our earlier try
        return;
      }
      // Leased (412) or changing (409): someone is using it right now; leave it.
      if (error instanceof FlyApiError && (error.status === 412 || error.status === 409))
        result.kept.push(machine.id);
      else throw error;
    }
  };

  const warm = machines.filter(isWarmIdle);
  for (const machine of machines) {
    if (isWarmIdle(machine)) continue;
    if (ageMs(machine) < olderThanMs || (await isAlive(machine))) result.kept.push(machine.id);
    else await destroy(machine);
  }
  if (warm.length > 0) {
    // Some parent of the app: one recorded on any flame-ts Machine of it (warm ones included).
    let someParentAlive = options.keepWarm === true;
    for (const machine of machines) {
      if (someParentAlive) break;
      someParentAlive = await isAlive(machine);
    }
    for (const machine of warm) {
      if (someParentAlive) result.kept.push(machine.id);
      else await destroy(machine);
    }
  }
  return result;
}

function isWarmIdle(machine: Machine): boolean {
  return (
    machine.state === "stopped" && machine.config.metadata?.[FLAME_METADATA.warm] !== undefined
  );
}

function parentOf(machine: Machine): ParentRef {
  const metadata = machine.config.metadata ?? {};
  return {
    machineId: metadata[FLAME_METADATA.parentMachine],
    app: metadata[FLAME_METADATA.parentApp],
    instanceId: metadata[FLAME_METADATA.parentInstance],
  };
}

function ageMs(machine: Machine): number {
  const createdAtMs = Date.parse(machine.created_at);
  return Number.isNaN(createdAtMs) ? Number.POSITIVE_INFINITY : Date.now() - createdAtMs;
}

/** Runs a request again while Fly does not answer about it, within the reap's bound. */
type Retry = <T>(action: () => Promise<T>) => Promise<T>;

/** Parent liveness, asked once per parent per reap. */
class ParentLiveness {
  readonly #client: FlyMachinesClient;
  readonly #options: ReapOptions;
  readonly #retry: Retry;
  readonly #answers = new Map<string, Promise<boolean>>();

  constructor(client: FlyMachinesClient, options: ReapOptions, retry: Retry) {
    this.#client = client;
    this.#options = options;
    this.#retry = retry;
  }

  isAlive(parentId: string, parent: ParentRef): Promise<boolean> {
    const key = `${parentId}/${parent.app ?? ""}/${parent.machineId ?? ""}/${parent.instanceId ?? ""}`;
    let answer = this.#answers.get(key);
    if (answer === undefined) {
      const custom = this.#options.isParentAlive;
      answer = (
        custom
          ? Promise.resolve().then(() => custom(parentId, parent.machineId, parent))
          : this.#askFly(parent)
      ).catch(() => true); // in doubt: alive
      this.#answers.set(key, answer);
    }
    return answer;
  }

  async #askFly(parent: ParentRef): Promise<boolean> {
    if (parent.machineId === undefined) return true;
    const client = this.#client.forApp(parent.app ?? this.#client.app);
    const signalOption = this.#options.signal ? { signal: this.#options.signal } : {};
    try {
      const machineId = parent.machineId;
      const machine = await this.#retry(() => client.getMachine(machineId, signalOption));
      if (DEAD_STATES.has(machine.state)) return false;
      // Same Machine, another version: the parent was replaced in place (a deploy).
      return parent.instanceId === undefined || machine.instance_id === parent.instanceId;
    } catch (error) {
      if (!(error instanceof FlyApiError && error.status === 404)) return true;
      // 404 may mean "no such Machine" or "no such app / not yours": dead only if we can read
      // the parent's app and the Machine is not in it.
      const listed = await this.#retry(() => client.listMachines({}, signalOption)).catch(
        () => undefined,
      );
      return listed === undefined || listed.some((m) => m.id === parent.machineId);
    }
  }
}
