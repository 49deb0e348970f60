/**
 * The warm pool: stopped runner Machines of the current image, kept per pool and shared by
 * every parent of the app.
 *
 * - take: list the pool's stopped warm Machines, lease one (a lease is Fly's lock: a second
 *   parent gets 409 and tries the next), re-check it under the lease, give it the new runner's
 *   config (`update` with `skip_launch`, so nothing runs yet) and `start` it. Machines of
 *   another image (a deploy happened) are destroyed on the way; the boot then creates.
 * - retire: when a runner ends, its stopped Machine stays if the pool holds fewer than `n`
 *   warm Machines of the current image, else it is destroyed; both under a lease, so a Machine
 *   another parent has just taken is left alone. `stop()` stops the Machine under that lease
 *   first. The decision is made from the Machine's state read under the lease (a Machine that
 *   did not stop is destroyed), never from a request that failed: see README, "Which Machines
 *   a runner's end keeps".
 */
import { setTimeout as sleep } from "node:timers/promises";
import { untilAborted } from "@flame-ts/pool-core";
import { FlyApiError, type FlyMachinesClient } from "./client.js";
import {
  type CreateMachineRequest,
  FLAME_METADATA,
  type Lease,
  type Machine,
} from "./machines-api.js";
import { backoffDelayMs, DEFAULT_BACKOFF, isTransient, retrying } from "./retry.js";
import type { WarmOutcome, WarmReturn } from "./runner.js";

/** Seconds a boot or retire may hold a Machine's lease; released as soon as it is done. */
const LEASE_TTL_SECONDS = 30;
/** How long to keep retrying a refused lease release. */
const RELEASE_RETRY_MS = 5_000;
/** How long a retire (which has no caller's deadline) retries a rate-limited lease or read. */
const RETIRE_RETRY_MS = 10_000;

export interface WarmPoolOptions {
  readonly client: FlyMachinesClient;
  /** The image runners must have to be reused (FlyBackend's `image`). */
  readonly image: string;
  /** Up to this many stopped Machines per pool. */
  readonly size: number;
}

export class WarmPool {
  readonly #client: FlyMachinesClient;
  readonly #image: string;
  readonly #size: number;
  /** Retire decisions of this process, one at a time, so two ends never both fill the last slot. */
  #retireChain: Promise<unknown> = Promise.resolve();
  /** Machines a boot of this process is taking: other boots here skip them (no self-contention). */
  readonly #claimed = new Set<string>();
  readonly #pendingRetires = new Set<Promise<WarmOutcome>>();
  /** One list at a time per pool: concurrent boots share it (Fly paces `list` at 1/s). */
  readonly #listing = new Map<string, Promise<Machine[]>>();

  constructor(options: WarmPoolOptions) {
    this.#client = options.client;
    this.#image = options.image;
    this.#size = options.size;
  }

  /**
   * Starts a warm Machine for this boot, or returns undefined (none free: create one).
   * `body` is the create request the boot would send; its config becomes the Machine's.
   */
  async take(
    pool: string,
    body: CreateMachineRequest,
    signal: AbortSignal,
  ): Promise<Machine | undefined> {
    // A Machine this process is returning right now is leased by it: let that finish first,
    // so a boot right after an idle shutdown reuses that Machine instead of creating one.
    await untilAborted(Promise.allSettled([...this.#pendingRetires]), signal);
    const idle = (await this.#sharedIdle(pool, signal)).sort(() => Math.random() - 0.5);
    for (const candidate of idle) {
      if (signal.aborted) return undefined;
      if (candidate.config.image !== this.#image) {
        void this.#destroyUnderLease(candidate.id).catch(() => undefined);
        continue;
      }
      if (this.#claimed.has(candidate.id)) continue;
      this.#claimed.add(candidate.id);
      try {
        const taken = await this.#tryTake(pool, candidate.id, body, signal);
        if (taken) return taken;
      } finally {
        this.#claimed.delete(candidate.id);
      }
    }
    return undefined;
  }

  /** One candidate, under its lease: re-check, give it the runner's config, start it. */
  #tryTake(
    pool: string,
    id: string,
    body: CreateMachineRequest,
    signal: AbortSignal,
  ): Promise<Machine | undefined> {
    return this.#withLease(
      id,
      `flame-ts boot in pool ${pool}`,
      async (lease) => {
        const current = await this.#client.getMachine(id, { signal });
        if (current.state !== "stopped" || current.config.image !== this.#image) return undefined;
        const updated = await this.#client.updateMachine(
          id,
          { config: body.config, skip_launch: true, current_version: current.instance_id },
          { signal, leaseNonce: lease.nonce },
        );
        await this.#client.startMachine(id, { signal, leaseNonce: lease.nonce });
        return updated;
      },
      signal,
    ).catch((error: unknown) => {
      // Someone else's lease, a Machine gone or changed meanwhile: try the next one.
      if (error instanceof FlyApiError && !signal.aborted) return undefined;
      throw error;
    });
  }

  /** The runner side of the warm pool, for FlyRunner. */
  returner(pool: string): WarmReturn {
    return {
      retire: (machine) => this.#track(this.#retire(pool, machine, undefined)),
      stopAndRetire: (machine, signal) => this.#track(this.#stopAndRetire(pool, machine, signal)),
    };
  }

  /** Remembers a retire in progress until it settles (boots of this process wait for them). */
  #track(retiring: Promise<WarmOutcome>): Promise<WarmOutcome> {
    this.#pendingRetires.add(retiring);
    void retiring.finally(() => this.#pendingRetires.delete(retiring));
    return retiring;
  }

  async #stopAndRetire(pool: string, machine: Machine, signal: AbortSignal): Promise<WarmOutcome> {
    try {
      return await this.#withLease(
        machine.id,
        "flame-ts stop",
        async (lease) => {
          const current = await this.#client.getMachine(machine.id, { signal });
          if (current.instance_id !== machine.instance_id) return "taken by another parent";
          if (current.state !== "stopped") await this.#stopLeased(machine, lease, signal);
          // The decision is #retire's, from the state it reads under this lease: stopped → kept
          // or destroyed by the warm-set rule; not stopped (it would not stop) → destroyed.
          return this.#retire(pool, machine, lease);
        },
        signal,
      );
    } catch (error) {
      return this.#outcomeOf(error);
    }
  }

  /**
   * Asks a Machine we hold the lease of to stop (SIGINT, SIGKILL after 5 s) and waits until it
   * has, until Fly's wait gives up (408 after 10 s) or until `signal`. It decides nothing: a
   * refused or failed request (a 429 above all: Fly counts arrivals, the client's pacing counts
   * departures) is retried, never read as "this Machine will not stop".
   */
  async #stopLeased(machine: Machine, lease: Lease, signal: AbortSignal): Promise<void> {
    const id = machine.id;
    try {
      await retrying(
        () => this.#client.stopMachine(id, { timeout: "5s" }, { signal, leaseNonce: lease.nonce }),
        signal,
      );
    } catch {
      // Not sent or refused for good: the state read by #retire says what became of it.
      if (signal.aborted) return;
    }
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        // true: stopped; false (408): not stopped within 10 s. Either is Fly's answer.
        await this.#client.waitForState(
          id,
          { state: "stopped", instance_id: machine.instance_id, timeout: 10 },
          { signal },
        );
        return;
      } catch (error) {
        if (!isTransient(error)) return;
        try {
          const retryAfterMs = error instanceof FlyApiError ? error.retryAfterMs : undefined;
          await sleep(
            backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random(), retryAfterMs),
            undefined,
            { signal },
          );
        } catch {
          return;
        }
      }
    }
  }

  /** Keep or destroy a stopped runner Machine; never throws. */
  #retire(pool: string, machine: Machine, lease: Lease | undefined): Promise<WarmOutcome> {
    const decide = async (held: Lease): Promise<WarmOutcome> => {
      // From the state read here, under the lease, and nothing else (not from which of the
      // runner's exit or stop() came first, nor from whether an earlier request went through).
      const reads = AbortSignal.timeout(RETIRE_RETRY_MS);
      const current = await retrying(() => this.#client.getMachine(machine.id), reads);
      if (current.instance_id !== machine.instance_id) return "taken by another parent";
      const others = (await retrying(() => this.#idle(pool, undefined), reads)).filter(
        (m) => m.id !== machine.id && m.config.image === this.#image,
      );
      if (
        current.state === "stopped" &&
        current.config.image === this.#image &&
        others.length < this.#size
      )
        return "kept warm";
      await this.#client.destroyMachine(machine.id, true, { leaseNonce: held.nonce });
      return "destroyed";
    };
    const run = () =>
      (lease ? decide(lease) : this.#withLease(machine.id, "flame-ts retire", decide)).catch(
        (error: unknown) => this.#outcomeOf(error),
      );
    const result = this.#retireChain.then(run, run);
    this.#retireChain = result;
    return result;
  }

  #outcomeOf(error: unknown): WarmOutcome {
    if (error instanceof FlyApiError && error.status === 404) return "gone";
    if (error instanceof FlyApiError && error.status === 409) return "taken by another parent";
    // Anything else (Fly unreachable, 5xx): left as it is; the next take or the reaper sees it.
    return "left as is (Fly error)";
  }

  #sharedIdle(pool: string, signal: AbortSignal): Promise<Machine[]> {
    let listing = this.#listing.get(pool);
    if (!listing) {
      listing = this.#idle(pool, undefined).finally(() => this.#listing.delete(pool));
      this.#listing.set(pool, listing);
    }
    return untilAborted(listing, signal);
  }

  /** The pool's stopped warm Machines (any image). */
  async #idle(pool: string, signal: AbortSignal | undefined): Promise<Machine[]> {
    const machines = await this.#client.listMachines(
      { metadata: { [FLAME_METADATA.pool]: pool } },
      signal ? { signal } : {},
    );
    return machines.filter(
      (m) => m.state === "stopped" && m.config.metadata?.[FLAME_METADATA.warm] !== undefined,
    );
  }

  async #destroyUnderLease(id: string): Promise<void> {
    await this.#withLease(id, "flame-ts replace stale image", async (lease) => {
      const current = await this.#client.getMachine(id);
      if (current.state !== "stopped") return;
      await this.#client.destroyMachine(id, true, { leaseNonce: lease.nonce });
    });
  }

  /**
   * Runs `action` holding the Machine's lease. 409 (held by someone else) rejects at once; 429
   * says nothing about the Machine (only Fly's rate limit): it is retried until `signal`, or
   * for RETIRE_RETRY_MS without one.
   */
  async #withLease<T>(
    id: string,
    description: string,
    action: (lease: Lease) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const bound = signal ?? AbortSignal.timeout(RETIRE_RETRY_MS);
    let lease: Lease | undefined;
    for (let attempt = 1; lease === undefined; attempt++) {
      try {
        lease = await this.#client.acquireLease(
          id,
          { ttl: LEASE_TTL_SECONDS, description },
          signal ? { queueSignal: signal } : {},
        );
      } catch (error) {
        if (!(error instanceof FlyApiError) || error.status !== 429 || bound.aborted) throw error;
        await sleep(
          backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random(), error.retryAfterMs),
          undefined,
          { signal: bound },
        );
      }
    }
    try {
      return await action(lease);
    } finally {
      // A lease left behind blocks every other parent until its TTL: retry a refused release
      // (429/409/412) for a few seconds; a Machine already destroyed has no lease to release.
      const signal = AbortSignal.timeout(RELEASE_RETRY_MS);
      await retrying(() => this.#client.releaseLease(id, lease.nonce, { signal }), signal).catch(
        () => undefined,
      );
    }
  }
}
