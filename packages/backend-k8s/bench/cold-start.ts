/**
 * Cold start on Kubernetes: `pool.call` on an empty pool (the backend's first watch, a Secret,
 * a pod scheduled and started, the agent's hello, the call, its result) against a bare pod of
 * the same image going from create to Running (seen by a watch opened beforehand), measured in
 * the same run, alternating.
 *
 *   node --conditions=source --import tsx packages/backend-k8s/bench/cold-start.ts [runs]
 *
 * Needs the test cluster (npm run k8s:up). Prints one JSON line with the medians and the
 * ratio; figures are never asserted.
 */
import { Pool } from "@flame-ts/pool-core";
import { CoreV1Api, KubeConfig, Watch } from "@kubernetes/client-node";
import { echo } from "../../pool-core/src/testing/conformance-functions.mjs";
import { KubernetesBackend } from "../src/index.js";
import { isRunning, KUBECONFIG_PATH, TEST_IMAGE } from "../test/k8s-env.js";

const runs = Number(process.argv[2] ?? 10);
const namespace = "default";
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(KUBECONFIG_PATH);
const core = kubeConfig.makeApiClient(CoreV1Api);

async function barePodMs(index: number): Promise<number> {
  const name = `bench-bare-${process.pid}-${index}`;
  let running: () => void = () => {};
  const seen = new Promise<void>((resolve) => {
    running = resolve;
  });
  const watch = await new Watch(kubeConfig).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { fieldSelector: `metadata.name=${name}` },
    (_type, pod) => {
      if (isRunning(pod)) running();
    },
    () => {},
  );
  const started = performance.now();
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        hostNetwork: true,
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        containers: [
          {
            name: "runner",
            image: TEST_IMAGE,
            imagePullPolicy: "Never",
            command: ["/usr/local/bin/node", "-e", "setInterval(() => {}, 1e6)"],
          },
        ],
      },
    },
  });
  await seen;
  const ms = performance.now() - started;
  watch.abort();
  await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  return ms;
}

async function coldCallMs(index: number): Promise<number> {
  const pool = new Pool({
    name: `bench${index < 0 ? "w" : index}`,
    min: 0,
    max: 1,
    bootTimeout: 60_000,
    backend: new KubernetesBackend({
      kubeConfig,
      namespace,
      image: TEST_IMAGE,
      imagePullPolicy: "Never",
      podTemplate: { spec: { hostNetwork: true } },
      app: "bench",
      stopGracePeriodSeconds: 1,
    }),
  });
  await pool.start();
  try {
    const started = performance.now();
    await pool.call(echo, index, { timeout: 60_000 });
    return performance.now() - started;
  } finally {
    await pool.stop();
  }
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { medianMs: Math.round(at(0.5)), p90Ms: Math.round(at(0.9)), minMs: Math.round(at(0)) };
}

// One warm-up of each so neither pays first-use costs (page cache, kubelet and API caches).
await barePodMs(-1);
await coldCallMs(-1);
const bare: number[] = [];
const cold: number[] = [];
for (let i = 0; i < runs; i++) {
  bare.push(await barePodMs(i));
  cold.push(await coldCallMs(i));
}
const bareStats = stats(bare);
const coldStats = stats(cold);
console.log(
  JSON.stringify({
    bench: "kubernetes-cold-start",
    runs,
    barePodRunning: bareStats,
    coldCall: coldStats,
    ratio: Number((coldStats.medianMs / bareStats.medianMs).toFixed(2)),
    goal: "≤ 1.2",
  }),
);
process.exit(0);
