import { type FlameError, Pool, type PoolOptions } from "@flame-ts/pool-core";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rendezvous, threadOf } from "../../backend-docker/test/fixtures/cpu-functions.mjs";
import { echo as dockerEcho, hang } from "../../backend-docker/test/fixtures/docker-functions.mjs";
import { echo, hold } from "../../pool-core/src/testing/conformance-functions.mjs";
import { FaultProxy } from "../../pool-core/test/chaos/fault-proxy.js";
import { KubernetesBackend, type KubernetesBackendOptions } from "../src/index.js";
import {
  createNamespace,
  deleteNamespace,
  ensureTestImage,
  isRunning,
  KUBECONFIG_PATH,
  leftovers,
  probeCluster,
  reportMissingCluster,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  testBackendOptions,
  waitFor,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s");
const DOCKER_FIXTURE = "/app/fixtures/docker-functions.mjs";
const CPU_FIXTURE = "/app/fixtures/cpu-functions.mjs";

describe.skipIf(skip)("KubernetesBackend on a real cluster", () => {
  const { core, docker, kubeConfig } = probe.ok ? probe : ({} as never);
  let namespace = "";
  const pools: Pool[] = [];

  function backend(extra: Partial<KubernetesBackendOptions> = {}): KubernetesBackend {
    return new KubernetesBackend({ ...testBackendOptions(kubeConfig, namespace), ...extra });
  }

  function pool(options: Partial<PoolOptions> & Pick<PoolOptions, "backend">): Pool {
    const p = new Pool({
      name: `k8s-${runTag}`,
      max: 2,
      bootTimeout: 60_000,
      shutdownTimeout: 5_000,
      ...options,
    });
    pools.push(p);
    return p;
  }

  beforeAll(async () => {
    await ensureTestImage(docker);
    namespace = await createNamespace(core, "backend");
  }, 240_000);

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.stop().catch(() => {})));
  }, 60_000);

  afterAll(async () => {
    await waitFor(
      "the run's pods and Secrets to be gone",
      async () => (await leftovers(core, namespace)).length === 0,
      30_000,
    );
    await deleteNamespace(core, namespace);
  }, 60_000);

  it("runs calls, casts and a child on runner pods; the snapshot shows pod, node and phase; stop() leaves no pod and no Secret", async () => {
    const p = pool({ backend: backend(), max: 1 });
    expect(await p.call(echo, { hello: "pod" })).toEqual({ hello: "pod" });
    const meta = p.snapshot().runners[0]?.meta ?? {};
    expect(meta).toMatchObject({ namespace, node: "127.0.0.1", phase: "Running" });
    expect(meta.pod).toMatch(/^flame-k8s-/);

    const casts = new Promise<void>((resolve) => {
      let done = 0;
      p.events.subscribe((e) => {
        if (e.type === "callFinished" && e.kind === "cast" && e.ok && ++done === 3) resolve();
      });
    });
    for (let i = 0; i < 3; i++) p.cast(echo, { i });
    await casts;

    const child = await p.placeChild(hold, null);
    expect(child.runnerId).toBe(p.snapshot().runners[0]?.id);
    await child.stop();
    await expect(child.result).resolves.toBe("released");

    const pod = meta.pod ?? "";
    await p.stop();
    // The pod leaves the API (force-deleted once its container ended) and its Secret with it.
    await waitFor(
      "the runner pod to be gone",
      async () => (await leftovers(core, namespace)).length === 0,
      20_000,
    );
    await expect(core.readNamespacedPod({ name: pod, namespace })).rejects.toMatchObject({
      code: 404,
    });
  }, 120_000);

  it("never puts the token in the pod spec: FLAME_PARENT comes from a Secret owned by the pod, deleted once the container started", async () => {
    const p = pool({ backend: backend(), max: 1, min: 1 });
    await p.start();
    const podName = p.snapshot().runners[0]?.meta.pod ?? "";
    const pod = await core.readNamespacedPod({ name: podName, namespace });
    expect(JSON.stringify(pod.spec)).not.toMatch(/"name":"FLAME_PARENT"/);
    const secretName = pod.spec?.containers[0]?.envFrom?.[0]?.secretRef?.name ?? "";
    expect(secretName).not.toBe("");
    await waitFor(
      "the runner's Secret to be deleted",
      async () =>
        core.readNamespacedSecret({ name: secretName, namespace }).then(
          () => false,
          (e) => e.code === 404,
        ),
      10_000,
    );
  }, 120_000);

  it("one backend serves pool after pool: the watch its last runner stopped starts again for the next boot", async () => {
    const shared = backend();
    for (const round of [1, 2, 3]) {
      const p = pool({ backend: shared, max: 1, bootTimeout: 30_000 });
      expect(await p.call(echo, round, { timeout: 30_000 })).toBe(round);
      await p.stop();
    }
  }, 150_000);

  it("a runner pod deleted mid-call fails the call with RUNNER_DOWN; the pool boots another and serves on", async () => {
    const p = pool({ backend: backend({ env: { FLAME_ENTRY: DOCKER_FIXTURE } }), max: 1 });
    await p.call(dockerEcho, 1);
    const podName = p.snapshot().runners[0]?.meta.pod ?? "";
    const hanging = p.call(hang, null, { timeout: 60_000 });
    await waitFor("the call to run", () => p.snapshot().runners[0]?.inflight === 1, 10_000);
    // Watched before the delete: the call may fail before the delete's own answer arrives.
    const failed = expect(hanging).rejects.toMatchObject({ code: "RUNNER_DOWN" });
    await core.deleteNamespacedPod({ name: podName, namespace, gracePeriodSeconds: 0 });
    await failed;
    expect(await p.call(dockerEcho, 2, { timeout: 60_000 })).toBe(2);
    expect(p.snapshot().runners[0]?.meta.pod).not.toBe(podName);
  }, 120_000);

  it("an image that does not exist fails the boot at once with Kubernetes' reason, not after the boot timeout", async () => {
    const p = pool({
      backend: backend({ image: `flame-ts/no-such-image:${runTag}` }),
      bootTimeout: 300_000,
    });
    const error: FlameError = await p.call(echo, 1, { timeout: 300_000 }).then(
      () => {
        throw new Error("the call succeeded");
      },
      (e: FlameError) => e,
    );
    expect(error.code).toBe("BOOT_FAILED");
    expect(error.message).toMatch(/ErrImageNeverPull/);
  }, 60_000);

  it("a pod the API refuses (422) fails the boot at once, naming the field", async () => {
    const p = pool({
      backend: backend({
        podTemplate: {
          spec: {
            hostNetwork: true,
            containers: [{ name: "runner", ports: [{ containerPort: 70_000 }] }],
          },
        },
      }),
      bootTimeout: 300_000,
    });
    await expect(p.call(echo, 1, { timeout: 300_000 })).rejects.toMatchObject({
      code: "BOOT_FAILED",
      message: expect.stringMatching(/HTTP 422.*containerPort/),
    });
  }, 60_000);

  it("a pod that no node can fit fails after unschedulableTimeoutMs with the scheduler's message", async () => {
    const p = pool({
      backend: backend({ resources: { requests: { cpu: "64" } }, unschedulableTimeoutMs: 2_000 }),
      bootTimeout: 300_000,
    });
    await expect(p.call(echo, 1, { timeout: 300_000 })).rejects.toMatchObject({
      code: "BOOT_FAILED",
      message: expect.stringMatching(/unschedulable.*Insufficient cpu/),
    });
  }, 60_000);

  it("a watch broken mid-boot is resumed: the boot completes and the pool says what happened", async () => {
    const proxy = await FaultProxy.start(6443);
    try {
      const viaProxy = new KubeConfig();
      viaProxy.loadFromFile(KUBECONFIG_PATH);
      const cluster = viaProxy.getCurrentCluster();
      if (cluster === null) throw new Error("no cluster in the test kubeconfig");
      viaProxy.clusters = [{ ...cluster, server: `https://127.0.0.1:${proxy.port}` }];
      const logged: string[] = [];
      let brokenWhilePending = false;
      const p = pool({
        max: 1,
        log: (_level, message) => logged.push(message),
        backend: backend({
          kubeConfig: viaProxy,
          // The runner container starts 2 s after its pod: the watch is cut in between.
          podTemplate: {
            spec: {
              hostNetwork: true,
              initContainers: [
                {
                  name: "wait",
                  image: TEST_IMAGE,
                  imagePullPolicy: "Never",
                  command: ["/usr/local/bin/node", "-e", "setTimeout(() => {}, 2000)"],
                },
              ],
            },
          },
        }),
      });
      // Once the runner pod exists and its init container runs, every API connection is cut.
      const cut = waitFor(
        "the runner pod to wait in its init container",
        async () => {
          const pods = await core.listNamespacedPod({
            namespace,
            labelSelector: `flame-ts.dev/app=${TEST_APP}`,
          });
          const live = pods.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
          return (
            live.length === 1 &&
            live[0]?.status?.initContainerStatuses?.[0]?.state?.running !== undefined
          );
        },
        30_000,
        50,
      ).then(async () => {
        const before = await core.listNamespacedPod({
          namespace,
          labelSelector: `flame-ts.dev/app=${TEST_APP}`,
        });
        brokenWhilePending = !before.items.some(isRunning);
        for (const link of proxy.links()) link.reset();
      });
      // Awaited after the call; a failure here must not surface first as an unhandled rejection.
      cut.catch(() => {});
      expect(await p.call(echo, "after the break", { timeout: 60_000 })).toBe("after the break");
      await cut;
      expect(brokenWhilePending).toBe(true);
      expect(logged.some((m) => /pod watch failed/.test(m))).toBe(true);
    } finally {
      await Promise.all(pools.splice(0).map((p) => p.stop().catch(() => {})));
      await proxy.close();
    }
  }, 120_000);

  it("resources.limits.cpu: 1 gives the runner one worker thread; without a limit it has two", async () => {
    const one = pool({
      backend: backend({
        env: { FLAME_ENTRY: CPU_FIXTURE },
        resources: { limits: { cpu: "1", memory: "512Mi" } },
      }),
      max: 1,
      maxConcurrency: 4,
    });
    const ran = await Promise.all([1, 2, 3, 4].map(() => one.call(threadOf, { ms: 50 })));
    expect(new Set(ran.map((r) => r.threadId)).size).toBe(1);
    await one.stop();

    const unlimited = pool({
      backend: backend({ env: { FLAME_ENTRY: CPU_FIXTURE } }),
      max: 1,
      maxConcurrency: 4,
    });
    const dir = `/rendezvous-${runTag}`;
    const peers = ["a", "b"];
    const [a, b] = await Promise.all(
      peers.map((name) => unlimited.call(rendezvous, { dir, name, peers, boundMs: 20_000 })),
    );
    expect(a?.threadId).not.toBe(b?.threadId);
  }, 120_000);
});
