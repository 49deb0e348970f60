import { randomBytes } from "node:crypto";

/** This process's id as a parent: backends label runners with it to reap orphans. */
export const parentId: string = randomBytes(6).toString("hex");

/** Unique across pools and parents: the pool name keeps it readable, 12 hex digits unique. */
export function newRunnerId(poolName: string): string {
  return `${poolName}-${randomBytes(6).toString("hex")}`;
}
