import type {
  PoolEvent,
  RunnerSnapshot,
  SequencedSnapshot,
  TelemetryHistory,
} from "@flame-ts/pool-core/telemetry";
import { describe, expect, it } from "vitest";
import { functionRows, percentile } from "../lib/function-figures.js";
import {
  applyEvent,
  applyHistory,
  applySample,
  applySnapshot,
  createPoolView,
  MAX_SAMPLES,
} from "../lib/pool-view.js";
import { event, runner, sample, snapshot } from "./view-fixtures.js";

describe("pool view", () => {
  it("records events after the snapshot, ignores stale ones, and flags a gap", () => {
    const view = createPoolView(snapshot(5));
    expect(applyEvent(view, event(4, { type: "resize", min: 1, max: 9 }))).toBe("stale");
    expect(view.timeline).toEqual([]);
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
    expect(view.timeline[0]).toMatchObject({ kind: "up", seq: 6 });
    // The runner list is the pool's: it changes with the snapshot that follows the event.
    expect(view.snapshot).toEqual(snapshot(5));
    applySnapshot(view, snapshot(6, { runners: [runner("r1")] }));
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
    expect(view.timeline[0]).toMatchObject({ kind: "resize", seq: 10 });
  });

  it("a stream with growStart, shrink and drain keeps the view equal to the latest snapshot plus events", () => {
    const booting: RunnerSnapshot = { ...runner("b"), state: "booting", bootedAtMs: null };
    // What serveTelemetry sends: each batch that changes the pool, then the pool's snapshot.
    const stream: Array<[PoolEvent[], SequencedSnapshot]> = [
      [
        [event(1, { type: "growStart", bootId: "g1", runnerId: "b", count: 2, isMin: false })],
        snapshot(1, { pendingBoots: 1, runners: [runner("a"), booting] }),
      ],
      [
        [event(2, { type: "runnerUp", runnerId: "b", isMin: false, meta: {}, bootMs: 900 })],
        snapshot(2, { runners: [runner("a"), { ...runner("b"), bootedAtMs: 2_000 }] }),
      ],
      [
        [
          event(3, { type: "shrink", runnerId: "a", count: 1, reason: "idle" }),
          event(4, {
            type: "runnerDown",
            runnerId: "a",
            reason: "idle",
            exitCode: 0,
            expected: true,
          }),
        ],
        snapshot(4, { runners: [{ ...runner("b"), bootedAtMs: 2_000 }] }),
      ],
      [
        [event(5, { type: "drain", timeoutMs: 30_000 })],
        snapshot(5, {
          draining: true,
          runners: [{ ...runner("b"), state: "draining", bootedAtMs: 2_000 }],
        } as Partial<SequencedSnapshot>),
      ],
    ];
    const view = createPoolView(snapshot(0, { runners: [runner("a")] }));
    let latest = view.snapshot;
    for (const [events, next] of stream) {
      for (const e of events) expect(applyEvent(view, e)).toBe("ok");
      // Between a batch and its snapshot the view still shows the pool's last word, unpatched.
      expect(view.snapshot).toEqual(latest);
      applySnapshot(view, next);
      expect(view.snapshot).toEqual(next);
      latest = next;
    }
    expect(view.awaitingSnapshot).toBe(false);
    // The events are all in the timeline, as the pool reported them: the idle exit is no crash.
    expect(view.timeline.map((t) => [t.seq, t.kind])).toEqual([
      [3, "shrink"],
      [2, "up"],
      [1, "grow"],
    ]);
  });

  it("charts the calls queued on runners beside the slots in use; a pool that sends no count charts 0", () => {
    const view = createPoolView(snapshot(0));
    applySample(view, sample(1_000, { slotsUsed: 4, queued: 3, waiting: 1 }));
    const { queued: _, ...fromOlderPool } = sample(2_000, { slotsUsed: 2 });
    applySample(view, fromOlderPool);
    expect(view.samples.slotsUsed).toEqual([4, 2]);
    expect(view.samples.queued).toEqual([3, 0]);
    expect(view.samples.waiting).toEqual([1, 0]);
  });

  it("charts the server's samples: calls/s from the period, percentiles, boots, bounded", () => {
    const view = createPoolView(snapshot(0));
    applySample(
      view,
      sample(2_000, {
        calls: 10,
        periodMs: 2_000,
        p50Ms: 5,
        p95Ms: 100,
        bootMs: 640,
        runners: 3,
        slotsUsed: 3,
        waiting: 3,
      }),
    );
    const s = view.samples;
    expect(s.t).toEqual([2]);
    expect(s.runners).toEqual([3]);
    expect(s.slotsUsed).toEqual([3]);
    expect(s.waiting).toEqual([3]);
    expect(s.callsPerSecond).toEqual([5]);
    expect(s.p50Ms).toEqual([5]);
    expect(s.p95Ms).toEqual([100]);
    expect(s.bootMs).toEqual([640]);
    applySample(view, sample(3_000));
    expect(s.callsPerSecond.at(-1)).toBe(0);
    expect(s.slotsUsed).toHaveLength(s.t.length);
    expect(s.p50Ms.at(-1)).toBeNull();
    for (let i = 0; i < MAX_SAMPLES + 10; i++) applySample(view, sample(4_000 + i * 1_000));
    expect(s.t).toHaveLength(MAX_SAMPLES);
    expect(s.runners).toHaveLength(MAX_SAMPLES);
  });

  it("counts live calls per function: calls, errors by code, p50/p95, last failures", () => {
    const view = createPoolView(snapshot(0, { runners: [runner("a")] }));
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
          ...(i === 0 ? { errorCode: "TIMEOUT", errorMessage: "took too long" } : {}),
        }),
      );
    });
    applyEvent(
      view,
      event(11, {
        type: "callFinished",
        kind: "cast",
        fn: "g",
        runnerId: null,
        durationMs: 1,
        ok: false,
        errorCode: "OVERLOADED",
      }),
    );
    expect(view.totalCalls).toBe(11);
    expect(view.failedCalls).toBe(2);
    // A runner's own count is the pool's, in its next snapshot: not counted twice here.
    expect(view.snapshot.runners.find((r) => r.id === "a")?.callsServed).toBe(0);
    expect(functionRows(view.functions)).toEqual([
      { fn: "f", calls: 10, failed: 1, errors: [["TIMEOUT", 1]], p50Ms: 5, p95Ms: 100 },
      { fn: "g", calls: 1, failed: 1, errors: [["OVERLOADED", 1]], p50Ms: 1, p95Ms: 1 },
    ]);
    expect(view.failures.map((f) => [f.fn, f.code, f.message, f.runnerId])).toEqual([
      ["g", "OVERLOADED", "", null],
      ["f", "TIMEOUT", "took too long", "a"],
    ]);
  });

  it("starts from the server's history: charts, timeline, functions and failures before the page came", () => {
    const view = createPoolView(snapshot(0));
    const history: TelemetryHistory = {
      historyMs: 900_000,
      samples: [sample(1_000, { runners: 1 }), sample(2_000, { runners: 4, calls: 3 })],
      events: [
        event(1, { type: "growStart", bootId: "b", count: 4, isMin: false }),
        event(2, { type: "runnerUp", runnerId: "r", isMin: false, meta: {}, bootMs: 300 }),
        event(3, {
          type: "callFinished",
          kind: "call",
          fn: "f",
          runnerId: "r",
          durationMs: 9,
          ok: false,
          errorCode: "REMOTE_ERROR",
          errorMessage: "boom",
        }),
        event(4, {
          type: "control",
          action: "killRunner",
          target: "r",
          by: "dashboard",
          ok: true,
          detail: "0 call(s) failed",
        }),
      ],
      functions: [
        { fn: "f", calls: 3, failed: 1, errors: { REMOTE_ERROR: 1 }, recentMs: [9, 10, 11] },
      ],
    };
    applyHistory(view, history);
    applySnapshot(view, snapshot(4));
    expect(view.samples.runners).toEqual([1, 4]);
    expect(view.timeline.map((t) => t.kind)).toEqual(["control", "up", "grow"]);
    expect(view.timeline[0]?.text).toBe("dashboard killed r: 0 call(s) failed");
    // History events are already counted in `functions`: no double counting.
    expect(view.totalCalls).toBe(3);
    expect(view.failedCalls).toBe(1);
    expect(functionRows(view.functions)[0]).toMatchObject({
      fn: "f",
      calls: 3,
      p50Ms: 10,
      p95Ms: 11,
    });
    expect(view.failures[0]).toMatchObject({
      fn: "f",
      code: "REMOTE_ERROR",
      message: "boom",
      runnerId: "r",
    });
    // Replayed events are ≤ the snapshot's seq: a live duplicate is stale.
    expect(applyEvent(view, event(4, { type: "resize", min: 0, max: 1 }))).toBe("stale");
  });

  it("shows refused actions and the pool rules of issue 14 (overload, budget, buffer)", () => {
    const view = createPoolView({
      ...snapshot(0),
      maxWaiting: 5,
      buffer: 1,
      budget: { runnerMs: 60_000, windowMs: 3_600_000, spentMs: 61_000 },
      draining: false,
    } as SequencedSnapshot);
    applyEvent(
      view,
      event(1, {
        type: "control",
        action: "drainRunner",
        target: "x",
        by: "dashboard",
        ok: false,
        detail: "no such runner",
      }),
    );
    applyEvent(view, {
      type: "overloaded",
      waiting: 5,
      maxWaiting: 5,
      seq: 2,
      timeMs: 1_002,
      pool: "p",
    });
    applyEvent(view, {
      type: "budgetBlocked",
      spentMs: 61_000,
      budgetMs: 60_000,
      seq: 3,
      timeMs: 1_003,
      pool: "p",
    });
    applyEvent(
      view,
      event(4, {
        type: "callFinished",
        kind: "call",
        fn: "f",
        runnerId: null,
        durationMs: 0,
        ok: false,
        errorCode: "BUDGET_EXHAUSTED",
      }),
    );
    expect(view.timeline.map((t) => [t.kind, t.text])).toEqual([
      ["budget", "a boot was refused: runner-time budget spent (1m 1s of 1m 0s)"],
      ["overloaded", "a caller was refused OVERLOADED (5 waiting, maxWaiting 5)"],
      ["refused", "dashboard could not drain x: no such runner"],
    ]);
    expect(view.overloaded).toBe(1);
    expect(view.budgetBlocked).toBe(1);
    expect(view.snapshot).toMatchObject({ maxWaiting: 5, buffer: 1, budget: { spentMs: 61_000 } });
    expect(functionRows(view.functions)[0]?.errors).toEqual([["BUDGET_EXHAUSTED", 1]]);
  });

  it("shows an operator's kill as the pool reports it, a crash as a crash, and guesses nothing", () => {
    const view = createPoolView(snapshot(0, { runners: [runner("a"), runner("b"), runner("c")] }));
    const stream: PoolEvent[] = [
      event(1, {
        type: "control",
        action: "killRunner",
        target: "a",
        by: "dashboard",
        ok: true,
        detail: "0 call(s) failed",
      }),
      event(2, {
        type: "runnerDown",
        runnerId: "a",
        reason: "killed through killRunner",
        exitCode: 137,
        expected: true,
        cause: "operator",
      }),
      event(3, {
        type: "runnerDown",
        runnerId: "b",
        reason: "exit 1",
        exitCode: 1,
        expected: false,
      }),
      // A pool that does not say whether it asked: no crash guessed from the exit code.
      event(4, { type: "runnerDown", runnerId: "c", reason: "exit 1", exitCode: 1 }),
    ];
    for (const e of stream) applyEvent(view, e);
    expect(view.timeline.map((t) => [t.kind, t.text])).toEqual([
      ["down", "runner c down (exit 1): exit 1"],
      ["crash", "runner b crashed (exit 1): exit 1"],
      ["killed", "runner a killed by an operator (exit 137)"],
      ["control", "dashboard killed a: 0 call(s) failed"],
    ]);

    // A client that came after the control event (history trimmed) still sees a kill.
    const late = createPoolView(snapshot(1));
    applyEvent(late, stream[1] as PoolEvent);
    expect(late.timeline.map((t) => t.kind)).toEqual(["killed"]);
  });

  it("computes nearest-rank percentiles", () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.95)).toBe(4);
  });
});
