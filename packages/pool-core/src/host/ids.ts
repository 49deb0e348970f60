import { randomBytes } from "node:crypto";

/** This process's id as a parent: backends label runners with it to reap orphans. */
export const parentId: string = randomBytes(6).toString("hex");

/**
 * The prefix the core mints runner ids under (`${prefix}${n}`, n counting boots from 1):
 * 8 random hex digits per pool instance, so ids are unique across pools, parents and
 * restarts, and stay `${pool}-${hex digits}` as backends and the conformance suite expect
 * (e.g. `thumbs-1f2e3d4c` + `17` for the 17th boot).
 */
export function newRunnerIdPrefix(poolName: string): string {
  return `${poolName}-${randomBytes(4).toString("hex")}`;
}

/** A one-off runner id outside any pool (the backend conformance suite boots runners itself). */
export function newRunnerId(poolName: string): string {
  return `${poolName}-${randomBytes(6).toString("hex")}`;
}
