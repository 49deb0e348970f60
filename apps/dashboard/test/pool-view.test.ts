import type { PoolEvent, PoolEventBody, SequencedSnapshot } from "@flame-ts/pool-core/telemetry";
import { describe, expect, it } from "vitest";
import {
  applyEvent,
  applySnapshot,
  createPoolView,
  MAX_SAMPLES,
  percentile,
  takeSample,
} from "../lib/pool-view.js";
import { parseTelemetryUrls } from "../lib/telemetry-urls.js";

const snapshot = (seq: number, extra: Partial<SequencedSnapshot> = {}): SequencedSnapshot => ({
  name: "p",
  min: 0,
  max: 4,
  maxConcurrency: 2,
  waiting: 0,
  pendingBoots: 0,
  runners: [],
  seq,
  timeMs: 1_000,
  ...extra,
});

const event = (seq: number, body: PoolEventBody): PoolEvent =>
  ({ ...body, seq, timeMs: 1_000 + seq, pool: "p" }) as PoolEvent;

describe("pool view", () => {
  it("applies events after the snapshot, ignores stale ones, and flags a gap", () => {
    const view = createPoolView(snapshot(5));
    expect(applyEvent(view, event(4, { type: "resize", min: 1, max: 9 }))).toBe("stale");
    expect(view.snapshot.max).toBe(4);
    expect(
      applyEvent(
        view,
        event(6, {
          type: "runnerUp",
          runnerId: "r1",
          isMin: false,
          meta: { pid: "7" },
          bootMs: 800,
        }),
      ),
    ).toBe("ok");
    expect(view.snapshot.runners.map((r) => r.id)).toEqual(["r1"]);
    expect(
      applyEvent(
        view,
        event(9, {
          type: "runnerDown",
          runnerId: "r1",
          reason: "killed",
          exitCode: 137,
          expected: false,
        }),
      ),
    ).toBe("gap");
    expect(view.awaitingSnapshot).toBe(true);
    expect(view.gaps).toBe(1);
    // The crash still reaches the timeline; the runner list waits for the fresh snapshot.
    expect(view.timeline[0]).toMatchObject({ kind: "crash", seq: 9 });
    applySnapshot(view, snapshot(9));
    expect(view.awaitingSnapshot).toBe(false);
    expect(view.snapshot.runners).toEqual([]);
    expect(applyEvent(view, event(10, { type: "resize", min: 1, max: 6 }))).toBe("ok");
    expect(view.snapshot).toMatchObject({ min: 1, max: 6 });
  });

  it("samples runners, slots, waiting, calls/s, latency percentiles and boot times", () => {
    const view = createPoolView(
      snapshot(0, {
        waiting: 3,
        pendingBoots: 1,
        runners: [
          {
            id: "a",
            state: "ready",
            inflight: 2,
            isMin: false,
            bootedAtMs: 1,
            callsServed: 0,
            meta: {},
          },
          {
            id: "b",
            state: "draining",
            inflight: 1,
            isMin: false,
            bootedAtMs: 1,
            callsServed: 0,
            meta: {},
          },
        ],
      }),
    );
    const durations = [5, 1, 4, 2, 3, 100, 6, 7, 8, 9];
    durations.forEach((durationMs, i) => {
      applyEvent(
        view,
        event(i + 1, {
          type: "callFinished",
          kind: "call",
          fn: "f",
          runnerId: "a",
          durationMs,
          ok: i !== 0,
          ...(i === 0 ? { errorCode: "TIMEOUT" } : {}),
        }),
      );
    });
    applyEvent(
      view,
      event(11, { type: "runnerUp", runnerId: "c", isMin: false, meta: {}, bootMs: 640 }),
    );
    takeSample(view, 2_000, 2_000);
    const s = view.samples;
    expect(s.t).toEqual([2]);
    expect(s.runners).toEqual([3]);
    expect(s.slotsUsed).toEqual([3]);
    expect(s.waiting).toEqual([3]);
    expect(s.callsPerSecond).toEqual([5]);
    expect(s.p50Ms).toEqual([5]);
    expect(s.p95Ms).toEqual([100]);
    expect(s.bootMs).toEqual([640]);
    expect(view.totalCalls).toBe(10);
    expect(view.failedCalls).toBe(1);
    expect(view.snapshot.runners.find((r) => r.id === "a")?.callsServed).toBe(10);
    takeSample(view, 3_000);
    expect(s.callsPerSecond.at(-1)).toBe(0);
    expect(s.p50Ms.at(-1)).toBeNull();
    for (let i = 0; i < MAX_SAMPLES + 10; i++) takeSample(view, 4_000 + i * 1_000);
    expect(s.t).toHaveLength(MAX_SAMPLES);
    expect(s.runners).toHaveLength(MAX_SAMPLES);
  });

  it("computes nearest-rank percentiles", () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.95)).toBe(4);
  });

  it("parses FLAME_TELEMETRY_URL, keeping tokens and skipping junk", () => {
    expect(parseTelemetryUrls(undefined)).toEqual([]);
    expect(
      parseTelemetryUrls(" ws://127.0.0.1:4000/ , nope, http://x/ ,wss://h:1/?token=t "),
    ).toEqual(["ws://127.0.0.1:4000/", "wss://h:1/?token=t"]);
  });
});
