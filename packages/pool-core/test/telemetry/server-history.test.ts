/** serveTelemetry's history: a client that connects late sees the recent past, bounded. */
import { afterEach, describe, expect, it } from "vitest";
import { PoolEventStream } from "../../src/telemetry/events.js";
import { MAX_FAILURES } from "../../src/telemetry/history.js";
import {
  serveTelemetry,
  type TelemetryHistory,
  type TelemetryServerMessage,
} from "../../src/telemetry.js";
import { Client, fakePool } from "./server-harness.js";

describe("serveTelemetry history", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = <T extends { close(): unknown }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };

  it("replays samples, notable events and per-function figures to a late client, then goes live", async () => {
    const pool = fakePool("late", { max: 4 });
    const server = track(
      // errorMessages: the failure's text is replayed too (withheld by default without a token).
      await serveTelemetry({
        pools: [pool],
        snapshotIntervalMs: 0,
        samplePeriodMs: 25,
        errorMessages: true,
      }),
    );
    // The first client only watches the samples go by, so the test knows history exists.
    const early = track(new Client(server.url));
    await early.opened;
    pool.events.emit({ type: "growStart", bootId: "b1", count: 1, isMin: false });
    pool.events.emit({ type: "runnerUp", runnerId: "r1", isMin: false, meta: {}, bootMs: 420 });
    for (let i = 0; i < 10; i++) {
      pool.events.emit({
        type: "callFinished",
        kind: "call",
        fn: "resize-image",
        runnerId: "r1",
        durationMs: 10 * (i + 1),
        ok: true,
      });
    }
    pool.events.emit({
      type: "callFinished",
      kind: "call",
      fn: "flaky",
      runnerId: "r1",
      durationMs: 5,
      ok: false,
      errorCode: "REMOTE_ERROR",
      errorMessage: "boom",
    });
    pool.events.emit({ type: "checkoutWaited", checkoutId: "c", runnerId: "r1", waitedMs: 1 });
    await early.until("a sample with the 11 calls", () =>
      samples(early.messages).some((s) => s.calls === 11),
    );
    const lastSeq = pool.events.seq;

    const late = track(new Client(server.url));
    await late.until("history and snapshot", () =>
      late.messages.some((m) => m.type === "snapshot"),
    );
    const types = late.messages.map((m) => m.type);
    expect(types.slice(0, 3)).toEqual(["hello", "history", "snapshot"]);
    const history = historyOf(late.messages);
    const withCalls = history.samples.find((s) => s.calls === 11);
    expect(withCalls).toMatchObject({
      failed: 1,
      p50Ms: 50,
      p95Ms: 100,
      bootMs: 420,
      periodMs: 25,
    });
    // Notable events and the failure, oldest first; successful calls and waits are not kept.
    expect(history.events.map((e) => e.type)).toEqual(["growStart", "runnerUp", "callFinished"]);
    expect(history.events[2]).toMatchObject({
      fn: "flaky",
      errorCode: "REMOTE_ERROR",
      errorMessage: "boom",
    });
    expect(history.events.every((e) => e.seq <= lastSeq)).toBe(true);
    const byFn = new Map(history.functions.map((f) => [f.fn, f]));
    expect(byFn.get("resize-image")).toMatchObject({ calls: 10, failed: 0, errors: {} });
    expect(byFn.get("resize-image")?.recentMs).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(byFn.get("flaky")).toMatchObject({ calls: 1, failed: 1, errors: { REMOTE_ERROR: 1 } });
    const snapshot = late.messages.find((m) => m.type === "snapshot");
    expect(snapshot?.type === "snapshot" && snapshot.snapshot.seq).toBe(lastSeq);

    // Then live: new events and samples follow.
    pool.events.emit({ type: "resize", min: 0, max: 2 });
    await late.until("the live event", () => late.events().some((e) => e.type === "resize"));
    const before = samples(late.messages).length;
    await late.until("a live sample", () => samples(late.messages).length > before);
  });

  it("stays bounded: maxHistoryEvents, the last failures, and samples within historyMs", async () => {
    // The pool's clock runs an hour ahead, so its events stay inside the 50 ms window while
    // the samples (taken on the server's clock) roll over it.
    const events = new PoolEventStream({
      pool: "bounded",
      nowMs: () => Date.now() + 3_600_000,
      snapshot: () => ({
        name: "bounded",
        min: 0,
        max: 1,
        maxConcurrency: 1,
        maxWaiting: null,
        buffer: 0,
        budget: null,
        draining: false,
        waiting: 0,
        pendingBoots: 0,
        runners: [],
      }),
    });
    const pool = { name: "bounded", events };
    const server = track(
      await serveTelemetry({
        pools: [pool],
        snapshotIntervalMs: 0,
        samplePeriodMs: 10,
        historyMs: 50,
        maxHistoryEvents: 10,
      }),
    );
    const watcher = track(new Client(server.url));
    await watcher.opened;
    for (let i = 0; i < 40; i++) {
      pool.events.emit({ type: "bootFailed", bootId: `b${i}`, error: "no image", bootMs: 1 });
    }
    for (let i = 0; i < MAX_FAILURES + 20; i++) {
      pool.events.emit({
        type: "callFinished",
        kind: "call",
        fn: "f",
        runnerId: null,
        durationMs: 1,
        ok: false,
        errorCode: "TIMEOUT",
      });
    }
    await watcher.until("ten samples", () => samples(watcher.messages).length >= 10);
    const late = track(new Client(server.url));
    await late.until("history", () => late.messages.some((m) => m.type === "history"));
    const history = historyOf(late.messages);
    expect(history.historyMs).toBe(50);
    expect(history.samples.length).toBeLessThanOrEqual(5);
    const boots = history.events.filter((e) => e.type === "bootFailed");
    expect(boots.map((e) => e.type === "bootFailed" && e.bootId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `b${30 + i}`),
    );
    expect(history.events.filter((e) => e.type === "callFinished")).toHaveLength(MAX_FAILURES);
    expect(history.functions).toEqual([
      expect.objectContaining({
        fn: "f",
        calls: MAX_FAILURES + 20,
        errors: { TIMEOUT: MAX_FAILURES + 20 },
      }),
    ]);
  });

  it("leaves out events older than historyMs", async () => {
    let nowMs = 1_000;
    const events = new PoolEventStream({
      pool: "old",
      nowMs: () => nowMs,
      snapshot: () => ({
        name: "old",
        min: 0,
        max: 1,
        maxConcurrency: 1,
        maxWaiting: null,
        buffer: 0,
        budget: null,
        draining: false,
        waiting: 0,
        pendingBoots: 0,
        runners: [],
      }),
    });
    const server = track(
      await serveTelemetry({
        pools: [{ name: "old", events }],
        snapshotIntervalMs: 0,
        historyMs: 60_000,
      }),
    );
    events.emit({ type: "resize", min: 0, max: 1 }); // at epoch + 1 s: long gone
    nowMs = Date.now();
    events.emit({ type: "resize", min: 0, max: 2 });
    const late = track(new Client(server.url));
    await late.until("history", () => late.messages.some((m) => m.type === "history"));
    expect(historyOf(late.messages).events.map((e) => e.type === "resize" && e.max)).toEqual([2]);
  });

  it("samples count the calls runners hold queued apart from the slots in use and the waiting", async () => {
    const runner = {
      state: "ready",
      isMin: false,
      bootedAtMs: 0,
      callsServed: 0,
      meta: {},
      tracked: 0,
      pinned: 0,
    } as const;
    const pool = fakePool("queued", {
      waiting: 1,
      runners: [
        { ...runner, id: "r1", inflight: 2, queued: 2 },
        { ...runner, id: "r2", inflight: 2, queued: 1 },
      ],
    });
    const server = track(
      await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0, samplePeriodMs: 25 }),
    );
    const client = track(new Client(server.url));
    await client.until("a sample", () => samples(client.messages).length > 0);
    expect(samples(client.messages)[0]).toMatchObject({
      runners: 2,
      slotsUsed: 4,
      queued: 3,
      waiting: 1,
    });
  });

  it("keeps no history with historyMs: 0", async () => {
    const pool = fakePool("none");
    const server = track(
      await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0, historyMs: 0 }),
    );
    pool.events.emit({ type: "resize", min: 0, max: 2 });
    const client = track(new Client(server.url));
    await client.until("the snapshot", () => client.messages.some((m) => m.type === "snapshot"));
    expect(client.messages.map((m) => m.type)).toEqual(["hello", "snapshot"]);
  });

  it("skips the history for a client that asks with ?history=0", async () => {
    const pool = fakePool("skip");
    const server = track(await serveTelemetry({ pools: [pool], snapshotIntervalMs: 0 }));
    pool.events.emit({ type: "resize", min: 0, max: 2 });
    const plain = track(new Client(server.url));
    const bare = track(new Client(`${server.url}?history=0`));
    await plain.until("the snapshot", () => plain.messages.some((m) => m.type === "snapshot"));
    await bare.until("the snapshot", () => bare.messages.some((m) => m.type === "snapshot"));
    expect(plain.messages.map((m) => m.type)).toEqual(["hello", "history", "snapshot"]);
    expect(bare.messages.map((m) => m.type)).toEqual(["hello", "snapshot"]);
  });
});

function samples(messages: readonly TelemetryServerMessage[]) {
  return messages.flatMap((m) => (m.type === "sample" ? [m.sample] : []));
}

function historyOf(messages: readonly TelemetryServerMessage[]): TelemetryHistory {
  const message = messages.find((m) => m.type === "history");
  if (message?.type !== "history") throw new Error("no history message");
  return message.history;
}
