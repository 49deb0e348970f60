/**
 * A Pool host on virtual time over FakeWorld (no processes, no sockets, no sleeps), as the
 * host suites use it: `useVirtualPools()` registers one afterEach that stops every pool made
 * (advancing the clock until it has stopped) and returns the factory.
 */
import { afterEach, expect } from "vitest";
import { isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { Pool } from "../../src/host/pool.js";
import type { PoolOptions } from "../../src/options/index.js";
import type { PoolEvent } from "../../src/telemetry/events.js";
import { ControlledCalls, FakeWorld, VirtualClock } from "./fakes.js";

/**
 * `answers`: "controlled" (default) installs `calls` as the runners' handler, so a call ends
 * when the test resolves it; "echo" keeps FakeWorld's handler, which answers every call with
 * its input at once. `env` is the host's environment (FLAME_PARENT, FLAME_RUNNER).
 */
export function useVirtualPools(answers: "controlled" | "echo" = "controlled") {
  let pools: Array<{ pool: Pool; clock: VirtualClock }> = [];
  afterEach(async () => {
    // Runners that ignore shutdown are killed after shutdownTimeout: virtual time must move.
    for (const { pool, clock } of pools) await stopOnVirtualTime(pool, clock);
    pools = [];
  });

  return function setup(options: Partial<PoolOptions> = {}, env: NodeJS.ProcessEnv = {}) {
    const clock = new VirtualClock();
    const world = new FakeWorld(clock);
    const pool = new Pool(
      { name: "t", max: 2, backend: world, clock, shutdownTimeout: 1_000, ...options },
      { listen: world.listen, env },
    );
    pools.push({ pool, clock });
    const events: PoolEvent[] = [];
    pool.events.subscribe((e) => events.push(e));
    const calls = new ControlledCalls();
    if (answers === "controlled") world.handler = calls.handler;
    return { clock, world, pool, events, calls };
  };
}

/** Stops `pool`, advancing its clock until it has stopped (at most 100 s of virtual time). */
export async function stopOnVirtualTime(pool: Pool, clock: VirtualClock): Promise<void> {
  let done = false;
  void pool.stop().finally(() => {
    done = true;
  });
  for (let i = 0; i < 100 && !done; i += 1) await clock.advance(1_000);
  expect(done).toBe(true);
}

/** The pool suites' function: answers its input (what FakeWorld's echo handler does too). */
export const echo = defineFunction("host-test.echo", (input: unknown) => input);

/** Settles `promise` into a value or a FlameError code, without unhandled rejections. */
export function outcome<T>(promise: Promise<T>): { current: T | string | undefined } {
  const box: { current: T | string | undefined } = { current: undefined };
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
