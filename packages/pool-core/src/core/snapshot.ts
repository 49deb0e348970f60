import type { PoolState } from "./state.js";
import { trackedCounts } from "./tracked.js";
import type { CoreSnapshot } from "./types.js";

/** Plain data for `pool.snapshot()`; `nowMs` prices the budget window. O(n): not on a hot path. */
export function snapshot(s: PoolState, nowMs: number): CoreSnapshot {
  const budget = s.config.budget;
  const tracked = trackedCounts(s);
  return {
    name: s.config.name,
    min: s.limits.min,
    max: s.limits.max,
    maxConcurrency: s.config.maxConcurrency,
    buffer: s.limits.buffer,
    maxWaiting: s.config.maxWaiting,
    budget:
      budget === null
        ? null
        : {
            runnerMs: budget.runnerMs,
            windowMs: budget.windowMs,
            spentMs: s.ledger?.spentMs(nowMs) ?? 0,
          },
    waiting: s.waiters.size,
    pendingBoots: s.pendingBoots.size,
    draining: s.draining !== null,
    stopped: s.stopped,
    boots: [...s.pendingBoots.values()].map((b) => ({
      bootId: b.id,
      runnerId: b.runnerId,
      isMin: b.isMin,
      startedAtMs: b.startedAtMs,
    })),
    runners: [...s.runners.values()].map((r) => ({
      id: r.id,
      state: r.life.phase === "ready" || r.life.phase === "idleCheck" ? "ready" : "draining",
      phase: r.life.phase,
      // Running apart from queued: inflight never exceeds maxConcurrency.
      inflight: r.load - r.queued.length,
      queued: r.queued.length,
      isMin: r.isMin,
      bootedAtMs: r.bootedAtMs,
      callsServed: r.callsServed,
      tracked: tracked.get(r.id)?.tracked ?? 0,
      pinned: tracked.get(r.id)?.pinned ?? 0,
    })),
  };
}
