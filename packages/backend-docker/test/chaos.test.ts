/**
 * Issue 12, "Chaos soak", on Docker (~20 s): bursty callers while runner containers are
 * `docker kill`ed and `docker pause`d/`unpause`d, their links (through the same fault proxy
 * as the LocalBackend soak; host networking lets a container dial 127.0.0.1) delayed,
 * blackholed and reset, and the parent's loop stalled. Same invariants and engine as
 * packages/pool-core/test/chaos (soak.ts): every call settles by its deadline + grace +
 * slack with its own value, RUNNER_DOWN or TIMEOUT; the pool back to `min`; no container of
 * this run left after `stop()`. Replay a failure with `SOAK_SEED=<seed>`.
 */
import { Pool } from "@flame-ts/pool-core";
import { expect, it } from "vitest";
import { FaultProxy, freePort } from "../../pool-core/test/chaos/fault-proxy.js";
import { carriesNonce, linkFaults, parentStall } from "../../pool-core/test/chaos/faults.js";
import { RecordingBackend } from "../../pool-core/test/chaos/recording-backend.js";
import {
  type FaultKind,
  formatFigures,
  type PlannedCall,
  runSoak,
  seedFromEnv,
} from "../../pool-core/test/chaos/soak.js";
import type { Prng } from "../../pool-core/test/sim/prng.js";
import { DockerBackend } from "../src/index.js";
import {
  dockerSuite,
  ensureTestImage,
  runContainers,
  runTag,
  testBackendOptions,
} from "./docker-env.js";
import { echo, hang } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker chaos soak");
const seed = seedFromEnv(process.env, 1);

const LOAD_MS = 15_000;
const MIN_RUNNERS = 1;
/** Containers take longer to boot than processes, more so on a loaded machine. */
const BOOT_TIMEOUT_MS = 15_000;
/** The parent's backstop after a deadline when the runner cannot answer (see local-chaos.ts). */
const PARENT_BACKSTOP_MS = 1_000;
const MAX_STALL_MS = 700;
/** Timer lateness on a loaded CI machine plus the longest injected parent stall. */
const SLACK_MS = 3_000 + MAX_STALL_MS;

it.skipIf(engine.skip)(
  `Docker runners survive kill, pause, link faults and parent stalls (SEED=${seed})`,
  async () => {
    const { docker } = engine;
    await ensureTestImage(docker);
    const port = await freePort();
    const proxy = await FaultProxy.start(port);
    // Host networking: the fault proxy between runners and parent listens on the host's loopback.
    const backend = new RecordingBackend(
      new DockerBackend(testBackendOptions({ network: "host" })),
    );
    const pool = new Pool({
      name: `chaos${runTag}`,
      min: MIN_RUNNERS,
      max: 3,
      maxConcurrency: 16,
      backend,
      bootTimeout: BOOT_TIMEOUT_MS,
      shutdownTimeout: 2_000,
      idleShutdownAfter: 1_000,
      heartbeat: { intervalMs: 200, timeoutMs: 1_500 },
      listen: { port, advertiseUrl: `ws://127.0.0.1:${proxy.port}` },
    });

    const paused = new Map<string, Promise<void>>();
    const containers = () =>
      backend
        .live()
        .map((r) => r.meta.containerId ?? "")
        .filter((id) => id !== "" && !paused.has(id));
    // A container that exited meanwhile makes the Engine answer 404/409: no fault injected.
    const attempt = async (action: () => Promise<unknown>) =>
      action().then(
        () => true,
        () => false,
      );
    const faults: FaultKind[] = [
      {
        kind: "dockerKill",
        weight: 3,
        inject: async (rng) => {
          const ids = containers();
          return ids.length > 0 && attempt(() => docker.getContainer(rng.pick(ids)).kill());
        },
      },
      {
        kind: "dockerPause",
        weight: 3,
        inject: async (rng) => {
          const ids = containers();
          if (ids.length === 0) return false;
          const id = rng.pick(ids);
          const holdMs = rng.chance(0.5) ? rng.int(50, 800) : rng.int(1_500, 3_000);
          if (!(await attempt(() => docker.getContainer(id).pause()))) return false;
          paused.set(
            id,
            new Promise<void>((resolve) =>
              setTimeout(() => {
                void attempt(() => docker.getContainer(id).unpause()).then(() => {
                  paused.delete(id);
                  resolve();
                });
              }, holdMs),
            ),
          );
          return true;
        },
      },
      ...linkFaults(proxy),
      parentStall(MAX_STALL_MS),
    ];
    const planCall = (rng: Prng, nonce: number): PlannedCall => {
      const timeoutMs = rng.int(300, 3_000);
      // A few calls that only their deadline ends (TIMEOUT by design).
      if (rng.chance(0.05)) return { fn: hang, input: null, timeoutMs, isRight: () => false };
      return { fn: echo, input: { nonce }, timeoutMs, isRight: carriesNonce(nonce) };
    };

    try {
      await pool.start();
      const figures = await runSoak({
        seed,
        pool,
        loadMs: LOAD_MS,
        planCall,
        burstSize: [1, 12],
        burstGapMs: [20, 400],
        faults,
        faultGapMs: [300, 900],
        settleFaults: async () => {
          await Promise.all(paused.values());
        },
        min: MIN_RUNNERS,
        bootTimeoutMs: BOOT_TIMEOUT_MS,
        graceMs: PARENT_BACKSTOP_MS,
        slackMs: SLACK_MS,
        convergeBoundMs: 30_000,
        healthCheck: async () => {
          const out = await pool.call(echo, { nonce: -1 }, { timeout: 20_000 });
          return carriesNonce(-1)(out);
        },
        leftovers: {
          // stop() waits for each container's exit; a running one after it is a leftover.
          atStop: async () =>
            (await runContainers(docker))
              .filter((c) => c.State === "running" || c.State === "paused")
              .map((c) => `container ${c.Id.slice(0, 12)} ${c.State}`),
          eventually: async () => [
            ...(await runContainers(docker)).map(
              (c) => `container ${c.Id.slice(0, 12)} ${c.State}`,
            ),
            ...proxy.links().map((link) => `open link #${link.id}`),
          ],
        },
      });
      const report = formatFigures("docker soak", figures, `SOAK_SEED=${seed}`);
      console.log(report);
      expect(figures.violations, report).toEqual([]);
      expect(figures.calls).toBeGreaterThan(100);
      expect(Object.keys(figures.faultsByKind).length, report).toBeGreaterThanOrEqual(3);
    } finally {
      await Promise.all(
        [...paused.keys()].map((id) => attempt(() => docker.getContainer(id).unpause())),
      );
      await pool.stop().catch(() => {});
      await proxy.close();
    }
  },
  120_000,
);
