/**
 * Changes to the pool's limits and life as a whole: `resize` (min, max, buffer), and `stop`
 * (also what a drain ends in). Runners beyond a lowered max leave idle ones first; boots in
 * flight are given up on at stop; a runner already leaving is left to its deadlines.
 */
import { rejectCallRetries } from "./admission.js";
import { armIdle, bootForDemand, ensureMin, rejectWaiters } from "./policy.js";
import { bootEndedInFailure, drain, waitForUnlinked } from "./runners.js";
import {
  activeOrPendingCount,
  isActive,
  type PoolState,
  setBootMin,
  setRunnerMin,
} from "./state.js";
import { emit, type Step, telemetry } from "./step.js";
import { rejectPinnedQueued } from "./tracked.js";
import type { CoreError } from "./types.js";

export function onResize(st: Step, min: number, max: number, buffer: number): void {
  const s = st.s;
  if (s.stopped || s.draining !== null) return;
  const loweredMax = max < s.limits.max;
  s.limits.min = min;
  s.limits.max = max;
  s.limits.buffer = buffer;
  s.bootsBlockedBy = null;
  telemetry(st, { type: "resize", min, max, buffer });
  if (loweredMax) {
    // Boots already in flight are not cancelled: those beyond the new max are surplus and
    // leave as soon as they come up (see onBootSucceeded).
    let overflow = activeOrPendingCount(s) - max;
    for (const bootId of s.pendingBoots.keys()) {
      if (overflow <= 0) break;
      s.surplusBoots.add(bootId);
      overflow -= 1;
    }
  }
  demoteExtraMin(st);
  ensureMin(st);
  shrinkToMax(st);
  bootForDemand(st);
}

/** After a resize down: drain idle surplus runners now, busy ones once they are idle. */
function shrinkToMax(st: Step): void {
  const s = st.s;
  let excess = activeOrPendingCount(s) - s.limits.max - s.surplusBoots.size;
  if (excess <= 0) return;
  const candidates = [...s.runners.values()]
    .filter((r) => isActive(r) && !r.isMin)
    .sort((a, b) => a.load - b.load);
  for (const runner of candidates) {
    if (excess <= 0) return;
    drain(st, runner, "resize", runner.load === 0);
    excess -= 1;
  }
}

function demoteExtraMin(st: Step): void {
  const s = st.s;
  if (s.counts.min <= s.limits.min) return;
  for (const boot of s.pendingBoots.values()) {
    if (s.counts.min <= s.limits.min) return;
    if (boot.isMin) setBootMin(s, boot, false);
  }
  for (const runner of s.runners.values()) {
    if (s.counts.min <= s.limits.min) return;
    if (!runner.isMin || !isActive(runner)) continue;
    setRunnerMin(s, runner, false);
    if (runner.load === 0 && runner.life.phase === "ready") armIdle(st, runner);
  }
}

export function onStop(st: Step): void {
  const s = st.s;
  if (s.stopped) return;
  s.stopped = true;
  s.draining = null;
  s.retryAtMs = null;
  rejectWaiters(st, stoppedError(s));
  rejectCallRetries(st, stoppedError(s));
  rejectPinnedQueued(st, stoppedError(s));
  for (const pending of [...s.pendingBoots.values()]) {
    const reason = "the pool stopped";
    emit(st, { type: "abortBoot", bootId: pending.id, runnerId: pending.runnerId, reason });
    bootEndedInFailure(st, pending, reason, false);
  }
  // Holders of tracked resources do not make the stop wait (unlike unlinked work): a handle
  // may live forever, and the runner disposes its resources before it exits.
  for (const runner of s.runners.values()) {
    if (runner.life.phase === "stopping" || runner.life.phase === "killed") continue;
    if (!waitForUnlinked(st, runner)) drain(st, runner, "stop", true);
  }
}

export function stoppedError(s: PoolState): CoreError {
  return {
    code: "POOL_STOPPED",
    message:
      s.draining !== null
        ? `Pool "${s.config.name}" is draining and takes no new calls; route them to another pool.`
        : `Pool "${s.config.name}" is stopped; create a new Pool to run more calls.`,
  };
}
