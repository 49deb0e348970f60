import { randomBytes } from "node:crypto";

/** This process's id as a parent: backends label runners with it to reap orphans. */
export const parentId: string = randomBytes(6).toString("hex");

/**
 * The prefix the core mints runner ids under (`${prefix}${n}`): random per pool instance, so
 * ids are unique across pools, parents and restarts; the pool name keeps them readable.
 */
export function newRunnerIdPrefix(poolName: string): string {
  return `${poolName}-${randomBytes(4).toString("hex")}-`;
}

/** A one-off runner id outside any pool (the backend conformance suite boots runners itself). */
export function newRunnerId(poolName: string): string {
  return `${poolName}-${randomBytes(6).toString("hex")}`;
}
