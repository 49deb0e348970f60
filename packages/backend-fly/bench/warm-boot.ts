// Boots by `start` (warm pool) vs by `create`, IN THE EMULATOR. The emulated latencies are
// parameters (FLY_PUBLISHED_LATENCY_MS: create 2000 ms, start 300 ms, from Fly's published
// figures); what this measures is FlyBackend's path on top of them: the API calls each boot
// makes (list, lease, get, update, start, release vs one create) and the runner dialing back.
// It says nothing about real Fly speed: see the README, "Measuring on your account".
//
//   npx tsx packages/backend-fly/bench/warm-boot.ts [rounds=3]
//
// Cold and warm boots alternate in the same run (the cold ones are the baseline).
import { performance } from "node:perf_hooks";
import type { FlyBackend } from "../src/fly-backend.js";
import { FLY_PUBLISHED_LATENCY_MS, NO_LATENCY_MS } from "../test/emulator/server.js";
import { backendFor, bootRequest, startEmulator, TestParent } from "../test/helpers.js";

const rounds = Number(process.argv[2] ?? 3);

async function bootMs(
  backend: FlyBackend,
  parent: TestParent,
): Promise<{ ms: number; boot: string }> {
  const req = bootRequest(parent.url);
  const startedAt = performance.now();
  const runner = await backend.boot(req);
  await parent.hello(req.runnerId);
  const ms = performance.now() - startedAt;
  await runner.stop();
  return { ms, boot: runner.meta.boot ?? "?" };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

for (const [label, latencyMs] of [
  ["published figures", FLY_PUBLISHED_LATENCY_MS],
  ["zero latency (FlyBackend's own overhead)", NO_LATENCY_MS],
] as const) {
  const emulator = await startEmulator({ latencyMs });
  const parent = await TestParent.start();
  try {
    const cold = backendFor(emulator, { namePrefix: "cold" });
    const warm = backendFor(emulator, { namePrefix: "warm", warm: { stopped: 1 } });
    await bootMs(warm, parent); // fills the warm set (a create)
    const coldMs: number[] = [];
    const warmMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      coldMs.push((await bootMs(cold, parent)).ms);
      const w = await bootMs(warm, parent);
      if (w.boot !== "warm") throw new Error(`expected a warm boot, got ${w.boot}`);
      warmMs.push(w.ms);
    }
    const c = median(coldMs);
    const w = median(warmMs);
    console.log(
      `EMULATED Fly (${label}: create ${latencyMs.createMs} ms, start ${latencyMs.startMs} ms), ` +
        `${rounds} rounds, boot → runner dialed back, median: ` +
        `by create ${c.toFixed(0)} ms, by start (warm) ${w.toFixed(0)} ms, ratio create/start ${(c / w).toFixed(2)}`,
    );
  } finally {
    await parent.close();
    await emulator.close();
  }
}
