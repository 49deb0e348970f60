/**
 * The seam between the public options and the core: the core's config from resolved options,
 * and `pool.snapshot()` from the core's snapshot plus what only the backend knows (meta).
 */
import type { CoreConfig, CoreSnapshot } from "../core/index.js";
import type { ResolvedOptions } from "../options/index.js";
import type { PoolSnapshot, RunnerSnapshot } from "../telemetry/events.js";
import type { Fleet } from "./fleet.js";
import { newRunnerIdPrefix } from "./ids.js";

/** FLAME's boot debounce: a failed boot is retried this long after, while demand is unmet. */
const BOOT_RETRY_DELAY_MS = 1_000;
/** How long after a kill the core waits for the backend to report the exit, at most. */
const MAX_KILL_GRACE_MS = 10_000;

/** How long the pool waits for a backend to confirm a runner's exit (kill, stop) at most. */
export function exitConfirmBoundMs(o: ResolvedOptions): number {
  return Math.min(o.shutdownTimeoutMs, MAX_KILL_GRACE_MS);
}

export function coreConfig(o: ResolvedOptions): CoreConfig {
  return {
    name: o.name,
    runnerIdPrefix: newRunnerIdPrefix(o.name),
    min: o.min,
    max: o.max,
    maxConcurrency: o.maxConcurrency,
    buffer: o.buffer,
    maxWaiting: o.maxWaiting,
    budget: o.budget,
    bootTimeoutMs: o.bootTimeoutMs,
    shutdownTimeoutMs: o.shutdownTimeoutMs,
    killGraceMs: exitConfirmBoundMs(o),
    idleShutdownAfterMs: o.idleShutdownAfterMs,
    minIdleShutdownAfterMs: o.minIdleShutdownAfterMs,
    hasIdleCheck: o.idleCheck !== null,
    singleUse: o.singleUse,
    prefetch: o.prefetch,
    bootRetryDelayMs: BOOT_RETRY_DELAY_MS,
    deadlineGraceMs: o.link.deadlineGraceMs,
  };
}

export function poolSnapshot(core: CoreSnapshot, fleet: Fleet): PoolSnapshot {
  const runners: RunnerSnapshot[] = core.runners.map((r) => ({
    id: r.id,
    state: r.state,
    inflight: r.inflight,
    queued: r.queued,
    isMin: r.isMin,
    bootedAtMs: r.bootedAtMs,
    callsServed: r.callsServed,
    meta: fleet.runnerMeta(r.id),
    tracked: r.tracked,
    pinned: r.pinned,
  }));
  for (const boot of core.boots) {
    runners.push({
      id: boot.runnerId,
      state: "booting",
      inflight: 0,
      queued: 0,
      isMin: boot.isMin,
      bootedAtMs: null,
      callsServed: 0,
      meta: fleet.bootMeta(boot.bootId),
      tracked: 0,
      pinned: 0,
    });
  }
  return {
    name: core.name,
    min: core.min,
    max: core.max,
    maxConcurrency: core.maxConcurrency,
    maxWaiting: core.maxWaiting,
    buffer: core.buffer,
    budget: core.budget,
    draining: core.draining,
    waiting: core.waiting,
    pendingBoots: core.pendingBoots,
    runners,
  };
}
