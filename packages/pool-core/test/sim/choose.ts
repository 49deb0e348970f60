/** Per seed, at random: the pool's options and the swarm of fault rates the run uses. */
import type { CoreConfig } from "../../src/core/index.js";
import type { Swarm } from "./model.js";
import type { Prng } from "./prng.js";

export function chooseConfig(rng: Prng): CoreConfig {
  const min = rng.pick([0, 0, 0, 1, 1, 2, 3]);
  const max = Math.max(1, min + rng.int(0, 4));
  return {
    name: "sim",
    runnerIdPrefix: "r",
    buffer: rng.chance(0.2) ? rng.int(1, 2) : 0,
    maxWaiting: rng.chance(0.2) ? rng.int(0, 6) : null,
    budget: rng.chance(0.2)
      ? { runnerMs: rng.pick([500, 5_000, 50_000]), windowMs: rng.pick([1_000, 10_000, 60_000]) }
      : null,
    bootTimeoutMs: rng.pick([30_000, 30_000, 2_000, 300]),
    shutdownTimeoutMs: rng.pick([30_000, 1_000, 100]),
    killGraceMs: rng.pick([5_000, 200]),
    min,
    max,
    maxConcurrency: rng.pick([1, 1, 2, 3, 8]),
    idleShutdownAfterMs: rng.chance(0.8) ? rng.int(50, 5_000) : null,
    minIdleShutdownAfterMs: rng.chance(0.15) ? rng.int(50, 5_000) : null,
    hasIdleCheck: rng.chance(0.3),
    singleUse: rng.chance(0.15),
    bootRetryDelayMs: rng.pick([1_000, 1_000, 10, 250]),
    deadlineGraceMs: rng.pick([1_000, 1_000, 0, 50]),
    prefetch: rng.chance(0.5),
  };
}

export function chooseSwarm(rng: Prng): Swarm {
  const maybe = (p: number, rate: number) => (rng.chance(p) ? rate : 0);
  return {
    bootFailP: maybe(0.6, rng.pick([0.05, 0.2, 0.6])),
    crashP: maybe(0.6, rng.pick([0.02, 0.1, 0.3])),
    cancelWaitingP: maybe(0.5, rng.pick([0.05, 0.3])),
    cancelRunningP: maybe(0.5, rng.pick([0.05, 0.3])),
    deadlineP: maybe(0.7, rng.pick([0.3, 0.9])),
    childP: maybe(0.3, 0.2),
    resizeP: maybe(0.3, rng.pick([0.01, 0.05])),
    stopP: maybe(0.1, 0.004),
    drainP: maybe(0.1, 0.004),
    permanentP: maybe(0.2, rng.pick([0.1, 0.5])),
    hangBootP: maybe(0.2, rng.pick([0.05, 0.3])),
    ignoreShutdownP: maybe(0.2, rng.pick([0.1, 0.5])),
    hungBackendP: maybe(0.3, 0.5),
    silentP: maybe(0.3, rng.pick([0.05, 0.3])),
    leaveP: maybe(0.3, rng.pick([0.05, 0.3])),
    idleCheckYesP: rng.pick([0.2, 0.5, 0.9]),
    retryP: maybe(0.5, rng.pick([0.3, 0.9])),
    answeredP: maybe(0.3, 0.2),
    unlinkedP: maybe(0.4, rng.pick([0.2, 0.8])),
    trackP: maybe(0.4, rng.pick([0.1, 0.4])),
    pinP: maybe(0.6, rng.pick([0.3, 0.7])),
    meanArrivalMs: rng.pick([5, 50, 500]),
    meanHoldMs: rng.pick([10, 100, 2_000]),
    meanBootMs: rng.pick([1, 100, 1_000]),
  };
}
