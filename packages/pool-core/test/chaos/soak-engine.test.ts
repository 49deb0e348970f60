/**
 * The soak's verdict can fail: each invariant, broken on purpose by a fake pool, shows up as
 * a violation (a soak that could only pass would prove nothing). No runner, no network.
 */
import { FlameError, type FlameFunction, type Pool, type PoolSnapshot } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import { type PlannedCall, runSoak, type SoakConfig } from "./soak.js";

type Answer = (nonce: number) => Promise<unknown>;

const fn = { id: "fake.echo" } as unknown as FlameFunction<never, unknown>;

function fakePool(answer: Answer, snapshot: Partial<PoolSnapshot> = {}): Pool {
  let nonce = 0;
  return {
    call: () => answer(++nonce),
    snapshot: () =>
      ({
        waiting: 0,
        pendingBoots: 0,
        runners: [{ id: "r1", state: "ready", inflight: 0 }],
        ...snapshot,
      }) as PoolSnapshot,
    stop: async () => {},
  } as unknown as Pool;
}

function config(pool: Pool, overrides: Partial<SoakConfig> = {}): SoakConfig {
  return {
    seed: 7,
    pool,
    loadMs: 100,
    planCall: (_rng, nonce): PlannedCall => ({
      fn,
      input: { nonce },
      timeoutMs: 50,
      isRight: (value) => (value as { nonce?: number } | null)?.nonce === nonce,
    }),
    burstSize: [1, 3],
    burstGapMs: [10, 20],
    faults: [],
    faultGapMs: [10, 20],
    settleFaults: async () => {},
    min: 1,
    bootTimeoutMs: 100,
    graceMs: 10,
    slackMs: 100,
    convergeBoundMs: 200,
    healthCheck: async () => true,
    leftovers: { atStop: async () => [], eventually: async () => [] },
    ...overrides,
  };
}

describe("soak verdict", () => {
  it("passes when every call answers its own nonce and the pool converges", async () => {
    const figures = await runSoak(config(fakePool(async (nonce) => ({ nonce }))));
    expect(figures.violations).toEqual([]);
    expect(figures.ok).toBe(figures.calls);
  });

  it("reports a call that never settles as lost", async () => {
    const figures = await runSoak(
      config(
        fakePool((nonce) => (nonce === 2 ? new Promise(() => {}) : Promise.resolve({ nonce }))),
      ),
    );
    expect(figures.lost).toBe(1);
    expect(figures.violations).toContain("call 2 never settled");
  });

  it("reports a call that settles past deadline + grace + slack as hung", async () => {
    // Call 1 answers 300 ms in: 250 ms past its 50 ms timeout, beyond grace 10 + slack 100,
    // yet before the soak stops waiting (load 400 ms + last timeout + grace + slack).
    const late = (nonce: number) =>
      new Promise((resolve) => setTimeout(() => resolve({ nonce }), nonce === 1 ? 300 : 0));
    const figures = await runSoak(config(fakePool(late), { loadMs: 400 }));
    expect(figures.lost).toBe(0);
    expect(figures.hung).toBe(1);
    expect(figures.lateWarm).toBe(1);
  });

  it("reports another call's value as wrong and an unexpected error code", async () => {
    const figures = await runSoak(
      config(
        fakePool(async (nonce) => {
          if (nonce === 1) return { nonce: 99 };
          if (nonce === 2) throw new FlameError("REMOTE_ERROR", "boom");
          if (nonce === 3) throw new FlameError("TIMEOUT", "late");
          return { nonce };
        }),
      ),
    );
    expect(figures.wrong).toBe(1);
    expect(figures.errorsByCode).toMatchObject({ REMOTE_ERROR: 1, TIMEOUT: 1 });
    expect(figures.violations.some((v) => v.startsWith("call 2 failed REMOTE_ERROR"))).toBe(true);
    expect(figures.violations.some((v) => v.startsWith("call 3"))).toBe(false);
  });

  it("reports work left in flight, a pool that stays above min, and leftovers", async () => {
    const pool = fakePool(async (nonce) => ({ nonce }), {
      runners: [
        { id: "r1", state: "ready", inflight: 1 },
        { id: "r2", state: "ready", inflight: 0 },
      ] as unknown as PoolSnapshot["runners"],
    });
    const figures = await runSoak(
      config(pool, {
        leftovers: { atStop: async () => ["runner process 4242"], eventually: async () => [] },
      }),
    );
    expect(figures.violations.some((v) => v.startsWith("calls still in flight"))).toBe(true);
    expect(figures.violations.some((v) => v.startsWith("pool did not return to min 1"))).toBe(true);
    expect(figures.violations).toContain("left after stop(): runner process 4242");
    expect(figures.leftovers).toBe(1);
  });

  it("counts an injected fault only when it found a target", async () => {
    let calls = 0;
    const figures = await runSoak(
      config(
        fakePool(async (nonce) => ({ nonce })),
        {
          loadMs: 150,
          faults: [{ kind: "flaky", weight: 1, inject: () => ++calls % 2 === 0 }],
        },
      ),
    );
    expect(calls).toBeGreaterThan(1);
    expect(figures.faultsByKind.flaky).toBe(Math.floor(calls / 2));
  });
});
