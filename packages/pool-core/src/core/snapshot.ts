import type { PoolState } from "./state.js";
import type { CoreSnapshot } from "./types.js";

export function snapshot(s: PoolState): CoreSnapshot {
  return {
    name: s.config.name,
    min: s.limits.min,
    max: s.limits.max,
    maxConcurrency: s.config.maxConcurrency,
    waiting: s.waiters.size,
    pendingBoots: s.pendingBoots.size,
    stopped: s.stopped,
    runners: [...s.runners.values()].map((r) => ({
      id: r.id,
      state: r.phase,
      inflight: r.load,
      isMin: r.isMin,
      bootedAtMs: r.bootedAtMs,
      callsServed: r.callsServed,
    })),
  };
}
