/**
 * A Pool host on virtual time over FakeWorld (no processes, no sockets, no sleeps), as the
 * host suites use it: `useVirtualPools()` registers one afterEach that stops every pool made
 * (advancing the clock until it has stopped) and returns the factory.
 */
import { afterEach, expect } from "vitest";
import { Pool } from "../../src/host/pool.js";
import type { PoolOptions } from "../../src/options/index.js";
import type { PoolEvent } from "../../src/telemetry/events.js";
import { ControlledCalls, FakeWorld, VirtualClock } from "./fakes.js";

export function useVirtualPools() {
  let pools: Array<{ pool: Pool; clock: VirtualClock }> = [];
  afterEach(async () => {
    for (const { pool, clock } of pools) {
      let done = false;
      void pool.stop().finally(() => {
        done = true;
      });
      for (let i = 0; i < 100 && !done; i += 1) await clock.advance(1_000);
      expect(done).toBe(true);
    }
    pools = [];
  });

  return function setup(options: Partial<PoolOptions> = {}) {
    const clock = new VirtualClock();
    const world = new FakeWorld(clock);
    const pool = new Pool(
      { name: "t", max: 2, backend: world, clock, shutdownTimeout: 1_000, ...options },
      { listen: world.listen, env: {} },
    );
    pools.push({ pool, clock });
    const events: PoolEvent[] = [];
    pool.events.subscribe((e) => events.push(e));
    const calls = new ControlledCalls();
    world.handler = calls.handler;
    return { clock, world, pool, events, calls };
  };
}
