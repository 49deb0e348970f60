/**
 * Fault kinds any soak can use whatever the backend: link faults through the FaultProxy and
 * a stall of this (the parent's) event loop. Backend-specific faults (signals to a process,
 * `docker kill`/`pause`) live with their soak.
 */
import type { Prng } from "../sim/prng.js";
import type { FaultProxy, ProxiedLink } from "./fault-proxy.js";
import { type FaultKind, stallEventLoop } from "./soak.js";

/** delay (hold 50–1,200 ms), blackhole and reset of a random open link. */
export function linkFaults(proxy: FaultProxy): FaultKind[] {
  return [
    linkFault(proxy, "delay", 2, (link, rng) => link.delay(rng.int(50, 1_200))),
    linkFault(proxy, "blackhole", 1, (link) => link.blackhole()),
    linkFault(proxy, "reset", 2, (link) => link.reset()),
  ];
}

/** Blocks the parent's loop for 50 ms to `maxStallMs` (a GC pause, a sync parse). */
export function parentStall(maxStallMs: number): FaultKind {
  return {
    kind: "parentStall",
    weight: 1,
    inject: (rng) => {
      stallEventLoop(rng.int(50, maxStallMs));
      return true;
    },
  };
}

/** Whether a call's value carries its own nonce (not another call's answer). */
export function carriesNonce(nonce: number): (value: unknown) => boolean {
  return (value) =>
    typeof value === "object" && value !== null && (value as { nonce?: unknown }).nonce === nonce;
}

function linkFault(
  proxy: FaultProxy,
  kind: string,
  weight: number,
  apply: (link: ProxiedLink, rng: Prng) => void,
): FaultKind {
  return {
    kind,
    weight,
    inject: (rng) => {
      const links = proxy.links();
      if (links.length === 0) return false;
      apply(rng.pick(links), rng);
      return true;
    },
  };
}
