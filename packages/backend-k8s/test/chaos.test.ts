/**
 * Issue 20's chaos soak on Kubernetes (~15 s of load): bursty callers while runner containers
 * are killed (`docker kill` of the pod's runner container) and runner pods deleted (grace 0),
 * their links (through the same fault proxy as the LocalBackend and Docker soaks; runner
 * pods share the host's network here) delayed, blackholed and reset, and the parent's loop
 * stalled. Same invariants and engine as packages/pool-core/test/chaos (soak.ts): every call
 * settles by its deadline + grace + slack with its own value, RUNNER_DOWN or TIMEOUT; the pool
 * back to `min`; no runner container running after `stop()`, no pod and no Secret left.
 * Replay a failure with `SOAK_SEED=<seed>`.
 */
import { Pool } from "@flame-ts/pool-core";
import { expect, it } from "vitest";
import { echo, hang } from "../../backend-docker/test/fixtures/docker-functions.mjs";
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
import { KubernetesBackend } from "../src/index.js";
import {
  createNamespace,
  deleteNamespace,
  ensureTestImage,
  leftovers,
  probeCluster,
  reportMissingCluster,
  runnerContainer,
  runTag,
  testBackendOptions,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s chaos soak");
const seed = seedFromEnv(process.env, 1);

const LOAD_MS = 15_000;
const MIN_RUNNERS = 1;
/** Pods take longer to boot than containers, more so on a loaded machine. */
const BOOT_TIMEOUT_MS = 20_000;
/** The parent's backstop after a deadline when the runner cannot answer (see local-chaos.ts). */
const PARENT_BACKSTOP_MS = 1_000;
const MAX_STALL_MS = 700;
const SLACK_MS = 3_000 + MAX_STALL_MS;

it.skipIf(skip)(
  `Kubernetes runners survive container kills, pod deletes, link faults and parent stalls (SEED=${seed})`,
  async () => {
    const { core, docker, kubeConfig } = probe.ok ? probe : ({} as never);
    await ensureTestImage(docker);
    const namespace = await createNamespace(core, "chaos");
    const port = await freePort();
    const proxy = await FaultProxy.start(port);
    const backend = new RecordingBackend(
      new KubernetesBackend(
        testBackendOptions(kubeConfig, namespace, "/app/fixtures/docker-functions.mjs"),
      ),
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
    const pods = () =>
      backend
        .live()
        .map((r) => r.meta.pod ?? "")
        .filter((name) => name !== "");
    // A pod that ended meanwhile makes the API or the Engine answer 404/409: no fault injected.
    const attempt = async (action: () => Promise<unknown>) =>
      action().then(
        () => true,
        () => false,
      );
    const faults: FaultKind[] = [
      {
        kind: "containerKill",
        weight: 3,
        inject: async (rng) => {
          const names = pods();
          if (names.length === 0) return false;
          const container = await runnerContainer(docker, rng.pick(names));
          return container !== null && attempt(() => container.kill());
        },
      },
      {
        kind: "podDelete",
        weight: 3,
        inject: async (rng) => {
          const names = pods();
          return (
            names.length > 0 &&
            attempt(() =>
              core.deleteNamespacedPod({ name: rng.pick(names), namespace, gracePeriodSeconds: 0 }),
            )
          );
        },
      },
      ...linkFaults(proxy),
      parentStall(MAX_STALL_MS),
    ];
    const planCall = (rng: Prng, nonce: number): PlannedCall => {
      const timeoutMs = rng.int(300, 3_000);
      if (rng.chance(0.05)) return { fn: hang, input: null, timeoutMs, isRight: () => false };
      return { fn: echo, input: { nonce }, timeoutMs, isRight: carriesNonce(nonce) };
    };
    const runnerContainersUp = async () => {
      const running = await docker.listContainers({
        filters: {
          label: [
            `io.kubernetes.pod.namespace=${namespace}`,
            "io.kubernetes.container.name=runner",
          ],
        },
      });
      return running.map((c) => `runner container ${c.Id.slice(0, 12)} ${c.State}`);
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
        settleFaults: async () => {},
        min: MIN_RUNNERS,
        bootTimeoutMs: BOOT_TIMEOUT_MS,
        graceMs: PARENT_BACKSTOP_MS,
        slackMs: SLACK_MS,
        convergeBoundMs: 45_000,
        healthCheck: async () =>
          carriesNonce(-1)(await pool.call(echo, { nonce: -1 }, { timeout: 30_000 })),
        leftovers: {
          // stop() waits until each runner container has ended; one still running is a leftover.
          atStop: runnerContainersUp,
          eventually: async () => [
            ...(await leftovers(core, namespace)),
            ...(await runnerContainersUp()),
            ...proxy.links().map((link) => `open link #${link.id}`),
          ],
        },
      });
      const report = formatFigures("kubernetes soak", figures, `SOAK_SEED=${seed}`);
      console.log(report);
      expect(figures.violations, report).toEqual([]);
      expect(figures.calls).toBeGreaterThan(100);
      expect(Object.keys(figures.faultsByKind).length, report).toBeGreaterThanOrEqual(3);
    } finally {
      await pool.stop().catch(() => {});
      await proxy.close();
      await deleteNamespace(core, namespace);
    }
  },
  180_000,
);
