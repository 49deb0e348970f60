import { capacityOf, type PoolState } from "./state.js";

/**
 * The pool's safety invariants (ARCHITECTURE.md, "The core"). Tests call this after every
 * step; it throws an Error naming the first broken invariant. O(n): never on the host's path.
 */
export function checkInvariants(s: PoolState): void {
  let loadSum = 0;
  let readyOrPending = s.pendingBoots.size;
  let freeSlots = 0;
  for (const runner of s.runners.values()) {
    loadSum += runner.load;
    if (runner.load !== runner.checkouts.size) {
      fail(`runner ${runner.id} has load ${runner.load} but ${runner.checkouts.size} checkouts`);
    }
    if (runner.load > s.config.maxConcurrency || runner.load < 0) {
      fail(
        `runner ${runner.id} load ${runner.load} outside 0..maxConcurrency ${s.config.maxConcurrency}`,
      );
    }
    const indexed = s.free.has(runner.id, runner.load);
    const shouldBeIndexed = runner.phase === "ready" && runner.load < capacityOf(s, runner);
    if (indexed !== shouldBeIndexed) {
      fail(`runner ${runner.id} free-slot index is ${indexed}, expected ${shouldBeIndexed}`);
    }
    if (shouldBeIndexed) freeSlots += 1;
    if (runner.phase === "ready") readyOrPending += 1;
    for (const checkoutId of runner.checkouts) {
      if (s.checkouts.get(checkoutId)?.runnerId !== runner.id) {
        fail(`checkout ${checkoutId} on runner ${runner.id} is not recorded as its checkout`);
      }
    }
  }
  if (s.free.size !== freeSlots)
    fail(`free-slot index holds ${s.free.size}, expected ${freeSlots}`);
  if (loadSum !== s.checkouts.size) {
    fail(`runner loads sum to ${loadSum} but there are ${s.checkouts.size} active checkouts`);
  }
  for (const checkout of s.checkouts.values()) {
    if (!s.runners.has(checkout.runnerId)) fail(`checkout ${checkout.id} is on a gone runner`);
  }
  // Draining runners still hold resources but are on their way out; boots that were in
  // flight when a resize lowered max are allowed over it until they resolve.
  if (readyOrPending > s.limits.max + s.surplusBoots.size) {
    fail(`${readyOrPending} ready/booting runners exceed max ${s.limits.max}`);
  }
  if (s.waiters.size > 0 && freeSlots > 0) {
    fail(`${s.waiters.size} callers wait while ${freeSlots} ready runners have a free slot`);
  }
  let lastSeq = 0;
  for (const waiter of s.waiters.values()) {
    if (waiter.seq <= lastSeq) fail(`waiter ${waiter.id} is out of FIFO order`);
    lastSeq = waiter.seq;
    if (s.checkouts.has(waiter.id)) fail(`waiter ${waiter.id} also holds a checkout`);
  }
  if (s.stopped && s.waiters.size > 0) fail("a stopped pool still has waiters");
}

function fail(message: string): never {
  throw new Error(`Pool invariant broken: ${message}`);
}
