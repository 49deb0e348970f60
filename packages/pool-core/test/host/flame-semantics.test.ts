/**
 * Issue 24 through the Pool host on virtual time: retries on runner loss (the backoff is the
 * core's, on the pool's clock) and unlinked work (the caller's abort answers the caller, never
 * the work).
 */
import { describe, expect, it } from "vitest";
import { isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { useVirtualPools } from "./virtual-pool.js";

const work = defineFunction("host-flame-semantics.work", (input: unknown) => input);

const setup = useVirtualPools();

function outcome(promise: Promise<unknown>): { current: unknown } {
  const box: { current: unknown } = { current: undefined };
  promise.then(
    (v) => {
      box.current = v;
    },
    (e: unknown) => {
      box.current = isFlameError(e) ? e.code : `non-flame: ${String(e)}`;
    },
  );
  return box;
}

describe("retry on runner loss (host)", () => {
  it("runs the call again on another runner after the backoff, on the pool's clock", async () => {
    const { pool, world, clock, events, calls } = setup({
      retry: { runnerDown: 1, backoffMs: 500 },
    });
    const call = outcome(pool.call(work, "x"));
    await clock.advance(100);
    expect(calls.pending).toHaveLength(1);
    world.runners[0]?.crash("spot reclaim");
    await clock.advance(0);
    expect(call.current).toBeUndefined();
    expect(events.filter((e) => e.type === "callRetry")).toEqual([
      expect.objectContaining({ attempt: 1, runnerId: world.runners[0]?.req.runnerId }),
    ]);
    // Nothing happens during the backoff; then it queues again, a runner boots for it (the
    // fake's 100 ms) and it runs there.
    await clock.advance(499);
    expect(world.runners).toHaveLength(1);
    await clock.advance(1);
    expect(world.runners).toHaveLength(2);
    expect(calls.pending).toHaveLength(1);
    await clock.advance(100);
    expect(calls.pending).toHaveLength(2);
    calls.pending[1]?.resolve("from the retry");
    await clock.advance(0);
    expect(call.current).toBe("from the retry");
  });

  it("a caller that aborts during the backoff gets ABORTED and the call never runs again", async () => {
    const { pool, world, clock, calls } = setup({ retry: { runnerDown: 1, backoffMs: 500 } });
    const abort = new AbortController();
    const call = outcome(pool.call(work, "x", { signal: abort.signal }));
    await clock.advance(100);
    world.runners[0]?.crash();
    await clock.advance(100);
    abort.abort();
    await clock.advance(1_000);
    expect(call.current).toBe("ABORTED");
    expect(calls.pending).toHaveLength(1);
    expect(pool.snapshot().waiting).toBe(0);
  });
});

describe("link: false (host)", () => {
  it("the caller's abort answers the caller; the work is not cancelled and keeps its slot", async () => {
    const { pool, world, clock, events, calls } = setup();
    const abort = new AbortController();
    const call = outcome(pool.call(work, "x", { signal: abort.signal, link: false }));
    await clock.advance(100);
    abort.abort();
    await clock.advance(0);
    expect(call.current).toBe("ABORTED");
    expect(world.runners[0]?.conn?.cancelled).toEqual([]);
    expect(calls.pending[0]?.opts.signal?.aborted).toBe(false);
    expect(pool.snapshot().runners[0]?.inflight).toBe(1);
    calls.pending[0]?.resolve("nobody listens");
    await clock.advance(0);
    expect(pool.snapshot().runners[0]?.inflight).toBe(0);
    // Dropped for the caller, still counted.
    expect(events.filter((e) => e.type === "callFinished")).toEqual([
      expect.objectContaining({ ok: true }),
    ]);
    expect(call.current).toBe("ABORTED");
  });

  it("an unlinked caller that aborts while queued is answered; its work still runs when a slot frees", async () => {
    const { pool, clock, calls } = setup({ max: 1, maxConcurrency: 1 });
    const first = outcome(pool.call(work, "first"));
    await clock.advance(100);
    const abort = new AbortController();
    const queued = outcome(pool.call(work, "queued", { signal: abort.signal, link: false }));
    abort.abort();
    await clock.advance(0);
    expect(queued.current).toBe("ABORTED");
    calls.pending[0]?.resolve("first");
    await clock.advance(0);
    expect(first.current).toBe("first");
    expect(calls.pending.map((p) => p.args)).toEqual(["first", "queued"]);
  });
});
