/**
 * The chaos soak's engine, backend-neutral: bursty callers against a live pool while a fault
 * scheduler breaks runners and links, then the invariants of issue 12:
 *
 * - every call settles exactly once, by its deadline + grace + slack, with the right value
 *   (its own nonce) or a RUNNER_DOWN / TIMEOUT FlameError — nothing else, nothing lost;
 * - afterwards nothing is in flight and nobody waits; the pool shrinks back to `min` and
 *   still answers a call;
 * - after `stop()` no runner (process, container) and no link is left.
 *
 * One seed drives the callers and the faults (what, when, whom), so a failing run prints
 * `SEED=…` and replays the same schedule (the machine's timing still varies, so a replay
 * reproduces the pressure, not every interleaving).
 *
 * Timing bounds: the only ones are each call's deadline + `graceMs` + `slackMs` (a call that
 * settles later is "hung"), and liveness waits (`convergeBoundMs`) that fail only when the
 * pool never converges. The slack is documented where the soak is configured.
 *
 * A call's deadline, by the pool's rules (pool-core README, "Timeouts"): start + timeout; but
 * a caller that queues while a boot is pending (the cold pool rule, FLAME #73) may wait up to
 * max(timeout, bootTimeout) for its slot and then run for its whole timeout. A caller whose
 * grant found its runner's link already closed asks again with what is left of its timeout,
 * and that second ask can be cold too; the soak cannot see that from outside, so the verdict
 * holds every call to the cold bound, start + timeout + max(timeout, bootTimeout), and the
 * figures count separately the calls placed with no boot pending that still settled past
 * start + timeout + grace + slack (`lateWarm`), with the worst of them.
 */
import { type FlameFunction, isFlameError, type Pool } from "@flame-ts/pool-core";
import { Prng } from "../sim/prng.js";

/** One call the load generator wants made, and how to recognise its right answer. */
export interface PlannedCall {
  readonly fn: FlameFunction<never, unknown>;
  readonly input: unknown;
  readonly timeoutMs: number;
  readonly isRight: (value: unknown) => boolean;
}

/** A kind of fault: `inject` returns false when it found no target (nothing counted). */
export interface FaultKind {
  readonly kind: string;
  readonly weight: number;
  readonly inject: (rng: Prng) => Promise<boolean> | boolean;
}

export interface SoakConfig {
  readonly seed: number;
  readonly pool: Pool;
  /** How long callers keep coming and faults keep happening. */
  readonly loadMs: number;
  readonly planCall: (rng: Prng, nonce: number) => PlannedCall;
  /** Calls per burst, inclusive range. */
  readonly burstSize: readonly [number, number];
  /** Pause between bursts in ms, inclusive range. */
  readonly burstGapMs: readonly [number, number];
  readonly faults: readonly FaultKind[];
  /** Pause between faults in ms, inclusive range. */
  readonly faultGapMs: readonly [number, number];
  /** Waits for faults with a pending undo (a frozen runner to thaw, a paused container). */
  readonly settleFaults: () => Promise<void>;
  /** The pool's `min` (what it must shrink back to). */
  readonly min: number;
  /** The pool's `bootTimeout`: a cold caller's wait for its slot may last this long. */
  readonly bootTimeoutMs: number;
  readonly graceMs: number;
  readonly slackMs: number;
  /** Bound on each liveness wait (in-flight to 0, back to min, leftovers gone). */
  readonly convergeBoundMs: number;
  /** A call that must succeed once the pool has converged. */
  readonly healthCheck: () => Promise<boolean>;
  /**
   * What is left once `stop()` resolved; [] when clean. `atStop` must be empty at once
   * (`stop()` waits for runner processes to exit); `eventually` may take until
   * `convergeBoundMs` (a proxied link sees its peer's close a turn later; the Engine removes
   * an exited container asynchronously).
   */
  readonly leftovers: {
    readonly atStop: () => Promise<string[]>;
    readonly eventually: () => Promise<string[]>;
  };
  /** During the load, a line with the figures so far and the pool's shape every `everyMs`. */
  readonly progress?: { readonly everyMs: number; readonly print: (line: string) => void };
}

export interface SoakFigures {
  seed: number;
  wallMs: number;
  calls: number;
  ok: number;
  errorsByCode: Record<string, number>;
  faultsByKind: Record<string, number>;
  /** Never settled (waited until the last deadline + grace + slack). */
  lost: number;
  /** Settled after the cold bound + grace + slack (a violation). */
  hung: number;
  /** Placed with no boot pending, settled past start + timeout + grace + slack (not a violation). */
  lateWarm: number;
  /** Resolved with another call's value or a malformed one. */
  wrong: number;
  /** Settled more than once (a promise cannot; counted to prove it, not assumed). */
  settledTwice: number;
  /** Calls placed while a boot was pending (the cold pool rule may apply to them). */
  coldCalls: number;
  /**
   * Latest settle past start + timeout among calls placed with no boot pending, in ms
   * (negative: all settled before).
   */
  worstPastDeadlineMs: number;
  /** That call: its function, timeout and outcome. */
  worstCall: string;
  leftovers: number;
  violations: string[];
}

interface Tracked {
  readonly nonce: number;
  readonly what: string;
  readonly startedAt: number;
  outcome: string;
  /** start + timeout. */
  readonly deadlineAt: number;
  /** start + timeout + max(timeout, bootTimeout): the cold pool rule's bound. */
  readonly coldDeadlineAt: number;
  placedCold: boolean;
  settles: number;
  settledAt: number | null;
}

const ALLOWED_CODES = new Set(["RUNNER_DOWN", "TIMEOUT"]);

export async function runSoak(config: SoakConfig): Promise<SoakFigures> {
  const began = performance.now();
  const figures: SoakFigures = {
    seed: config.seed,
    wallMs: 0,
    calls: 0,
    ok: 0,
    errorsByCode: {},
    faultsByKind: {},
    lost: 0,
    hung: 0,
    lateWarm: 0,
    wrong: 0,
    settledTwice: 0,
    coldCalls: 0,
    worstPastDeadlineMs: Number.NEGATIVE_INFINITY,
    worstCall: "",
    leftovers: 0,
    violations: [],
  };
  const violation = (what: string) => {
    if (figures.violations.length < 20) figures.violations.push(what);
  };
  // Two streams from one seed, so adding a fault kind does not reshuffle the callers.
  const callRng = new Prng(config.seed);
  const faultRng = new Prng(config.seed ^ 0x5bd1e995);
  const tracked: Tracked[] = [];
  const settled: Promise<void>[] = [];
  const loadEndsAt = began + config.loadMs;

  const place = (nonce: number) => {
    const plan = config.planCall(callRng, nonce);
    const startedAt = performance.now();
    const entry: Tracked = {
      nonce,
      what: `${plan.fn.id}(${JSON.stringify(plan.input)}) timeout ${plan.timeoutMs} ms`,
      startedAt,
      outcome: "",
      deadlineAt: startedAt + plan.timeoutMs,
      coldDeadlineAt: startedAt + plan.timeoutMs + Math.max(plan.timeoutMs, config.bootTimeoutMs),
      placedCold: false,
      settles: 0,
      settledAt: null,
    };
    tracked.push(entry);
    figures.calls += 1;
    const done = (outcome: () => void) => {
      entry.settles += 1;
      if (entry.settles > 1) {
        figures.settledTwice += 1;
        return;
      }
      entry.settledAt = performance.now();
      outcome();
    };
    const call = config.pool.call(plan.fn, plan.input as never, { timeout: plan.timeoutMs });
    // The checkout ran within pool.call: with a boot pending now, the core may have queued
    // this caller cold (its own test, right after the checkout).
    if (config.pool.snapshot().pendingBoots > 0) {
      figures.coldCalls += 1;
      entry.placedCold = true;
    }
    settled.push(
      call.then(
        (value) =>
          done(() => {
            entry.outcome = "ok";
            if (plan.isRight(value)) figures.ok += 1;
            else {
              figures.wrong += 1;
              violation(`call ${nonce} resolved with a wrong value: ${JSON.stringify(value)}`);
            }
          }),
        (error: unknown) =>
          done(() => {
            const code = isFlameError(error) ? error.code : "NOT_A_FLAME_ERROR";
            entry.outcome = `${code}: ${(error as Error)?.message ?? error}`;
            figures.errorsByCode[code] = (figures.errorsByCode[code] ?? 0) + 1;
            if (!ALLOWED_CODES.has(code)) {
              violation(`call ${nonce} failed ${code}: ${(error as Error)?.message ?? error}`);
            }
          }),
      ),
    );
  };

  const callers = (async () => {
    let nonce = 0;
    while (performance.now() < loadEndsAt) {
      const size = callRng.int(config.burstSize[0], config.burstSize[1]);
      for (let i = 0; i < size; i++) place(++nonce);
      await sleep(callRng.int(config.burstGapMs[0], config.burstGapMs[1]));
    }
  })();

  const faults = (async () => {
    const totalWeight = config.faults.reduce((sum, f) => sum + f.weight, 0);
    if (totalWeight === 0) return;
    while (performance.now() < loadEndsAt) {
      await sleep(faultRng.int(config.faultGapMs[0], config.faultGapMs[1]));
      if (performance.now() >= loadEndsAt) break;
      const fault = pickWeighted(config.faults, faultRng.next() * totalWeight);
      if (await fault.inject(faultRng)) {
        figures.faultsByKind[fault.kind] = (figures.faultsByKind[fault.kind] ?? 0) + 1;
      }
    }
  })();

  const progress = config.progress;
  const ticker =
    progress === undefined
      ? null
      : setInterval(() => {
          const t = Math.round((performance.now() - began) / 1000);
          const settledSoFar = tracked.filter((c) => c.settledAt !== null).length;
          progress.print(
            `  ${t} s: calls ${figures.calls} (settled ${settledSoFar}), ok ${figures.ok}, ` +
              `errors ${JSON.stringify(figures.errorsByCode)}, faults ${JSON.stringify(figures.faultsByKind)}; ${describe(config.pool)}`,
          );
        }, progress.everyMs);
  await Promise.all([callers, faults]);
  if (ticker !== null) clearInterval(ticker);
  await config.settleFaults();

  // Every call has until its cold bound + grace + slack; whatever has not settled then is lost.
  const lastDeadline = Math.max(began, ...tracked.map((t) => t.coldDeadlineAt));
  const bound = lastDeadline + config.graceMs + config.slackMs;
  await Promise.race([Promise.all(settled), sleep(Math.max(0, bound - performance.now()))]);
  for (const t of tracked) {
    if (t.settledAt === null) {
      figures.lost += 1;
      violation(`call ${t.nonce} never settled`);
      continue;
    }
    const allowedMs = config.graceMs + config.slackMs;
    const pastColdMs = t.settledAt - t.coldDeadlineAt;
    if (pastColdMs > allowedMs) {
      figures.hung += 1;
      violation(
        `call ${t.nonce} settled ${Math.round(pastColdMs)} ms after its cold-rule deadline: ${t.what} → ${t.outcome}`,
      );
    }
    if (t.placedCold) continue;
    const pastMs = t.settledAt - t.deadlineAt;
    if (pastMs > allowedMs) figures.lateWarm += 1;
    if (pastMs > figures.worstPastDeadlineMs) {
      figures.worstPastDeadlineMs = pastMs;
      figures.worstCall = `${t.what} → ${t.outcome}`;
    }
  }
  if (figures.settledTwice > 0) violation(`${figures.settledTwice} settle(s) after the first`);

  const pool = config.pool;
  const quiet = () => {
    const s = pool.snapshot();
    return s.waiting === 0 && s.runners.every((r) => r.inflight === 0);
  };
  if (!(await until(quiet, config.convergeBoundMs))) {
    violation(`calls still in flight or waiting: ${describe(pool)}`);
  }
  const atMin = () => {
    const s = pool.snapshot();
    return (
      s.pendingBoots === 0 &&
      s.runners.length === config.min &&
      s.runners.every((r) => r.state === "ready")
    );
  };
  if (!(await until(atMin, config.convergeBoundMs))) {
    violation(`pool did not return to min ${config.min}: ${describe(pool)}`);
  }
  if (!(await config.healthCheck().catch(() => false))) {
    violation("a call after the chaos did not succeed");
  }

  await pool.stop();
  const leftAtStop = await config.leftovers.atStop();
  let left: string[] = [];
  await until(async () => {
    left = await config.leftovers.eventually();
    return left.length === 0;
  }, config.convergeBoundMs);
  left = [...leftAtStop, ...left];
  figures.leftovers = left.length;
  for (const what of left) violation(`left after stop(): ${what}`);
  figures.wallMs = Math.round(performance.now() - began);
  figures.worstPastDeadlineMs = Math.round(figures.worstPastDeadlineMs);
  return figures;
}

/** The figures as a few readable lines, with the seed and how to replay it. */
export function formatFigures(name: string, f: SoakFigures, replay: string): string {
  const byKey = (r: Record<string, number>) =>
    Object.entries(r)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  return [
    `[${name}] SEED=${f.seed} wall ${(f.wallMs / 1000).toFixed(1)} s`,
    `  calls ${f.calls} (${f.coldCalls} placed while a boot was pending): ok ${f.ok}; errors: ${byKey(f.errorsByCode)}`,
    `  faults: ${byKey(f.faultsByKind)}`,
    `  lost ${f.lost}, hung ${f.hung}, wrong ${f.wrong}, settled twice ${f.settledTwice}, leftovers ${f.leftovers}`,
    `  placed with no boot pending: latest settle vs start + timeout ${f.worstPastDeadlineMs} ms (${f.worstCall}); past it + grace + slack: ${f.lateWarm}`,
    ...(f.violations.length > 0
      ? [`  VIOLATIONS (replay: ${replay}):`, ...f.violations.map((v) => `    - ${v}`)]
      : []),
  ].join("\n");
}

/**
 * A seed from SOAK_SEED, else `fallback`, else a fresh one (printed with the figures so it
 * can be replayed).
 */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env, fallback?: number): number {
  const fromEnv = Number(env.SOAK_SEED);
  if (env.SOAK_SEED !== undefined && Number.isInteger(fromEnv)) return fromEnv >>> 0;
  if (fallback !== undefined) return fallback >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Blocks this process's event loop for `ms` (a GC pause, a sync JSON.parse of 100 MB). */
export function stallEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** The fault whose weight band holds `roll` (in [0, total weight)). */
function pickWeighted(faults: readonly FaultKind[], roll: number): FaultKind {
  let left = roll;
  for (const fault of faults) {
    left -= fault.weight;
    if (left < 0) return fault;
  }
  return faults[faults.length - 1]!;
}

async function until(condition: () => boolean | Promise<boolean>, boundMs: number) {
  const stopAt = performance.now() + boundMs;
  while (!(await condition())) {
    if (performance.now() > stopAt) return false;
    await sleep(50);
  }
  return true;
}

function describe(pool: Pool): string {
  const s = pool.snapshot();
  const runners = s.runners.map((r) => `${r.id}:${r.state}/${r.inflight}`).join(" ");
  return `waiting ${s.waiting}, pendingBoots ${s.pendingBoots}, runners [${runners}]`;
}
