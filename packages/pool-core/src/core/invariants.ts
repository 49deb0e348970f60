import {
  capacityOf,
  indexedBelow,
  isActive,
  type PoolState,
  prefetchAllowed,
  prefetchOn,
  RUNNER_TRANSITIONS,
  type RunnerState,
  slotsPerRunner,
} from "./state.js";
import { onlyHoldersOn } from "./tracked.js";

/**
 * The pool's safety invariants (ARCHITECTURE.md, "The core"). Tests call this after every
 * step; it throws an Error naming the first broken invariant. O(n): never on the host's path.
 */
export function checkInvariants(s: PoolState): void {
  let loadSum = 0;
  let activeOrPending = s.pendingBoots.size;
  let active = 0;
  let minCount = 0;
  let minActive = 0;
  /** Active runners with a free slot, and those slots. */
  let freeSlots = 0;
  let freeSlotCount = 0;
  /** Active runners in the free-slot index (a free slot, or room for a queued call). */
  let roomForQueued = 0;
  /** Runners holding a queued call; of those, asked to give it back; of the rest, able to. */
  let queuedRunners = 0;
  let queuedCalls = 0;
  let unqueuing = 0;
  let movable = 0;
  let armedIdle = 0;
  for (const boot of s.pendingBoots.values()) if (boot.isMin) minCount += 1;
  for (const runner of s.runners.values()) {
    if (!(runner.life.phase in RUNNER_TRANSITIONS)) fail(`runner ${runner.id} in unknown phase`);
    loadSum += runner.load;
    if (runner.load !== runner.checkouts.size) {
      fail(`runner ${runner.id} has load ${runner.load} but ${runner.checkouts.size} checkouts`);
    }
    const slots = s.config.maxConcurrency;
    const ceiling = slots + (prefetchOn(s) ? runner.prefetchDepth : 0);
    if (runner.load > ceiling || runner.load < 0) {
      fail(
        `runner ${runner.id} load ${runner.load} outside 0..${ceiling} (maxConcurrency ${slots})`,
      );
    }
    const indexed = s.free.has(runner, runner.load);
    const shouldBeIndexed = isActive(runner) && runner.load < indexedBelow(s, runner);
    if (indexed !== shouldBeIndexed) {
      fail(`runner ${runner.id} free-slot index is ${indexed}, expected ${shouldBeIndexed}`);
    }
    if (shouldBeIndexed) roomForQueued += 1;
    if (isActive(runner) && runner.load < capacityOf(s, runner)) {
      freeSlots += 1;
      freeSlotCount += capacityOf(s, runner) - runner.load;
    }
    checkQueued(s, runner);
    if (runner.queued.length > 0) queuedRunners += 1;
    queuedCalls += runner.queued.length;
    for (const queued of runner.queued) {
      if (queued.unqueueSent) unqueuing += 1;
      else if (runner.life.phase !== "stopping" && runner.life.phase !== "killed") movable += 1;
    }
    if (isActive(runner)) {
      activeOrPending += 1;
      active += 1;
      if (runner.isMin) {
        minCount += 1;
        minActive += 1;
      }
    }
    if (runner.idleDeadlineMs !== null) {
      armedIdle += 1;
      if (runner.life.phase !== "ready") {
        fail(`runner ${runner.id} has an idle deadline armed in phase ${runner.life.phase}`);
      }
    }
    if (runner.life.phase === "draining" && runner.load === 0) {
      fail(`runner ${runner.id} drains with nothing left to finish but was not shut down`);
    }
    for (const checkout of runner.checkouts) {
      if (s.checkouts.get(checkout.id) !== checkout || checkout.runnerId !== runner.id) {
        fail(`checkout ${checkout.id} on runner ${runner.id} is not recorded as its checkout`);
      }
    }
  }
  for (const runnerId of s.bufferKept) {
    const runner = s.runners.get(runnerId);
    if (runner?.life.phase !== "ready" || runner.load !== 0 || runner.idleDeadlineMs !== null) {
      fail(`runner ${runnerId} is kept for the buffer but is not idle, ready and untimed`);
    }
  }
  if (armedIdle !== s.idleDeadlines.size + s.minIdleDeadlines.size) {
    fail(`${armedIdle} runners have an idle deadline but the idle queues hold a different number`);
  }
  if (s.counts.active !== active) fail(`active count ${s.counts.active}, expected ${active}`);
  if (s.counts.minActive !== minActive) {
    fail(`active min count ${s.counts.minActive}, expected ${minActive}`);
  }
  if (s.counts.min !== minCount) fail(`min count ${s.counts.min}, expected ${minCount}`);
  if (s.free.size !== roomForQueued) {
    fail(`free-slot index holds ${s.free.size}, expected ${roomForQueued}`);
  }
  if (s.queuedOn.size !== queuedRunners) {
    fail(`${queuedRunners} runners hold a queued call but queuedOn has ${s.queuedOn.size}`);
  }
  if (s.counts.queued !== queuedCalls) {
    fail(`queued count ${s.counts.queued}, expected ${queuedCalls}`);
  }
  if (s.counts.unqueuing !== unqueuing) {
    fail(`unqueuing count ${s.counts.unqueuing}, expected ${unqueuing}`);
  }
  // FLAME's least-loaded rule with prefetch: a queued call never waits behind another while a
  // slot is free elsewhere and no one is taking it back for it.
  if (s.waiters.size === 0 && movable > 0 && freeSlotCount > unqueuing) {
    fail(
      `${movable} queued calls wait behind busy runners while ${freeSlotCount} slots are free and ${unqueuing} are being given back`,
    );
  }
  const head = s.waiters.values().next().value;
  if (head !== undefined && !head.unboundedRun && prefetchAllowed(s) && roomForQueued > 0) {
    fail(`caller ${head.id} waits in the pool while a busy runner has room to hold it queued`);
  }
  if (loadSum !== s.checkouts.size) {
    fail(`runner loads sum to ${loadSum} but there are ${s.checkouts.size} active checkouts`);
  }
  for (const checkout of s.checkouts.values()) {
    if (!s.runners.has(checkout.runnerId)) fail(`checkout ${checkout.id} is on a gone runner`);
  }
  // Leaving runners still hold resources but are on their way out; boots that were in
  // flight when a resize lowered max are allowed over it until they resolve. This also keeps
  // buffer boots within max.
  if (activeOrPending > s.limits.max + s.surplusBoots.size) {
    fail(`${activeOrPending} ready/booting runners exceed max ${s.limits.max}`);
  }
  if (s.waiters.size > 0 && freeSlots > 0) {
    fail(`${s.waiters.size} callers wait while ${freeSlots} ready runners have a free slot`);
  }
  const maxWaiting = s.config.maxWaiting;
  let givenBack = 0;
  for (const waiter of s.waiters.values()) if (waiter.givenBack === true) givenBack += 1;
  if (maxWaiting !== null && s.waiters.size - givenBack > maxWaiting) {
    fail(`${s.waiters.size - givenBack} callers wait, more than maxWaiting ${maxWaiting}`);
  }
  let lastSeq = 0;
  for (const waiter of s.waiters.values()) {
    if (waiter.seq <= lastSeq) fail(`waiter ${waiter.id} is out of FIFO order`);
    lastSeq = waiter.seq;
    if (s.checkouts.has(waiter.id)) fail(`waiter ${waiter.id} also holds a checkout`);
  }
  if (s.stopped && s.waiters.size > 0) fail("a stopped pool still has waiters");
  if (s.stopped && s.pendingBoots.size > 0) fail("a stopped pool still has boots in flight");
  if (s.stopped && active > 0) fail("a stopped pool still has runners taking work");
  checkTracked(s);
}

/**
 * A runner above its slots holds that many calls queued, at most its depth: its newest
 * checkouts, in grant order.
 */
function checkQueued(s: PoolState, runner: RunnerState): void {
  const expected = Math.max(0, runner.load - slotsPerRunner(s));
  const queued = runner.queued;
  if (queued.length !== expected) {
    fail(`runner ${runner.id} at load ${runner.load} holds ${queued.length} queued calls`);
  }
  if (queued.length > runner.prefetchDepth) {
    fail(
      `runner ${runner.id} holds ${queued.length} queued calls, over its ${runner.prefetchDepth}`,
    );
  }
  if (queued.length > 0 !== s.queuedOn.has(runner)) {
    fail(`runner ${runner.id} with ${queued.length} queued calls is wrongly in queuedOn`);
  }
  const newest: string[] = [];
  for (const checkout of runner.checkouts) newest.push(checkout.id);
  const tail = newest.slice(newest.length - queued.length).join();
  if (tail !== queued.map((q) => q.checkout.id).join()) {
    fail(
      `runner ${runner.id} holds [${queued.map((q) => q.checkout.id)}] queued, its newest calls are [${tail}]`,
    );
  }
}

/** Holders of tracked resources and the calls pinned to them (tracked.ts). */
function checkTracked(s: PoolState): void {
  let pinnedSeen = 0;
  for (const pinned of s.pinned.values()) {
    const holder = s.holders.get(pinned.holderId);
    if (holder === undefined) fail(`pinned call ${pinned.id} has no holder ${pinned.holderId}`);
    if (pinned.runnerId !== holder.runnerId) {
      fail(`pinned call ${pinned.id} is on ${pinned.runnerId}, its holder on ${holder.runnerId}`);
    }
    if (s.checkouts.has(pinned.id) || s.waiters.has(pinned.id) || s.callRetries.has(pinned.id)) {
      fail(`pinned call ${pinned.id} also holds a slot, waits or awaits a retry`);
    }
    if (s.stopped && !pinned.running) fail(`pinned call ${pinned.id} queues after stop`);
  }
  for (const holder of s.holders.values()) {
    const checkout = s.checkouts.get(holder.id);
    if (checkout === undefined) fail(`holder ${holder.id} holds no slot`);
    if (checkout.runnerId !== holder.runnerId) {
      fail(`holder ${holder.id} is on ${holder.runnerId} but its slot on ${checkout.runnerId}`);
    }
    if (checkout.childId !== null || checkout.retry !== null || checkout.unlinked) {
      fail(`holder ${holder.id} is also a child, retryable or unlinked`);
    }
    if (checkout.backstopAtMs !== null) fail(`holder ${holder.id} has a backstop`);
    if (holder.running !== null) {
      pinnedSeen += 1;
      const running = s.pinned.get(holder.running);
      if (running?.running !== true || running.holderId !== holder.id) {
        fail(`holder ${holder.id} runs ${holder.running}, which is not its running pinned call`);
      }
    } else {
      if (holder.releasing) fail(`holder ${holder.id} is being released with nothing running`);
      if (holder.queue.size > 0) {
        fail(`${holder.queue.size} calls queue on holder ${holder.id}, which runs none`);
      }
    }
    if (holder.queue.size > 0 && holder.releasing) {
      fail(`calls still queue on holder ${holder.id}, which is being released`);
    }
    const phase = s.runners.get(holder.runnerId)?.life.phase;
    if (holder.queue.size > 0 && (phase === "stopping" || phase === "killed")) {
      fail(`calls still queue on holder ${holder.id}, whose runner is leaving`);
    }
    let lastSeq = 0;
    for (const id of holder.queue) {
      pinnedSeen += 1;
      const queued = s.pinned.get(id);
      if (queued === undefined || queued.running || queued.holderId !== holder.id) {
        fail(`${id} queues on holder ${holder.id} but is not its queued pinned call`);
      }
      if (queued.seq <= lastSeq) fail(`pinned call ${id} is out of FIFO order`);
      lastSeq = queued.seq;
      if (queued.deadlineAtMs !== queued.callDeadlineMs) {
        fail(`queued pinned call ${id} has deadline ${queued.deadlineAtMs}, not its call's`);
      }
    }
  }
  if (s.stopped && s.holders.size > 0) {
    for (const runner of s.runners.values()) {
      if (runner.life.phase === "draining" && onlyHoldersOn(s, runner)) {
        fail(`runner ${runner.id} waits at stop for holders of tracked resources only`);
      }
    }
  }
  if (pinnedSeen !== s.pinned.size) {
    fail(`holders account for ${pinnedSeen} pinned calls, the pool has ${s.pinned.size}`);
  }
}

function fail(message: string): never {
  throw new Error(`Pool invariant broken: ${message}`);
}
