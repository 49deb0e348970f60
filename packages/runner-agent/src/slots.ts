/**
 * How many functions a runner runs at once, as the parent's core counts them: its
 * `maxConcurrency`, 1 for a single-use runner. The agent queues a task beyond that
 * (lifecycle/machine.ts) and sizes its thread pool from it (agent.ts).
 */
import type { ParentDescriptor } from "@flame-ts/pool-core/wire";

export function runnerSlots(descriptor: ParentDescriptor): number {
  return descriptor.singleUse ? 1 : descriptor.maxConcurrency;
}
