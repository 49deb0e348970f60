/**
 * A bursty load: waves of concurrent callers (so the pool grows), then quiet spells with a
 * trickle of calls (so idle runners shut down and the pool shrinks back).
 */
export function startBurstyLoad(pool, fn, options = {}) {
  const burstMs = options.burstMs ?? 10_000;
  const quietMs = options.quietMs ?? 14_000;
  const minCallers = options.minCallers ?? 4;
  const maxCallers = options.maxCallers ?? 14;
  let stopped = false;
  let seed = 0;
  const running = new Set();

  const caller = async (untilMs) => {
    while (!stopped && Date.now() < untilMs) {
      try {
        await pool.call(fn, { seed: seed++ }, { timeout: 60_000 });
      } catch (error) {
        if (!stopped) console.error(`call failed: ${error.message}`);
        return;
      }
    }
  };
  const track = (promise) => {
    running.add(promise);
    void promise.finally(() => running.delete(promise));
  };
  const stopWaiters = new Set();
  const sleep = (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      stopWaiters.add(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  const loop = (async () => {
    while (!stopped) {
      const callers = minCallers + Math.floor(Math.random() * (maxCallers - minCallers + 1));
      const until = Date.now() + burstMs;
      for (let i = 0; i < callers; i++) track(caller(until));
      await sleep(burstMs);
      // Quiet: one call every 2 s, served by whatever runner is left.
      const quietUntil = Date.now() + quietMs;
      while (!stopped && Date.now() < quietUntil) {
        track(pool.call(fn, { seed: seed++ }, { timeout: 60_000 }).catch(() => {}));
        await sleep(2_000);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      for (const wake of stopWaiters) wake();
      await loop;
      await Promise.allSettled([...running]);
    },
  };
}
