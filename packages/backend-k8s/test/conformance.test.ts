import { describeBackendConformance } from "@flame-ts/pool-core/testing";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { KubernetesBackend } from "../src/index.js";
import {
  CONFORMANCE_ENTRY,
  createNamespace,
  deleteNamespace,
  ensureTestImage,
  leftovers,
  probeCluster,
  reportMissingCluster,
  runnerContainer,
  testBackendOptions,
  waitFor,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s conformance");

describe.skipIf(skip)("KubernetesBackend", () => {
  const { core, docker, kubeConfig } = probe.ok ? probe : ({} as never);
  let namespace = "";

  beforeAll(async () => {
    await ensureTestImage(docker);
    namespace = await createNamespace(core, "conformance");
  }, 240_000);

  afterAll(async () => {
    await waitFor(
      "the run's pods and Secrets to be gone",
      async () => (await leftovers(core, namespace)).length === 0,
      30_000,
    );
    expect(await leftovers(core, namespace)).toEqual([]);
    await deleteNamespace(core, namespace);
  }, 60_000);

  describeBackendConformance(
    "kubernetes",
    () => new KubernetesBackend(testBackendOptions(kubeConfig, namespace, CONFORMANCE_ENTRY)),
    {
      killRunner: async (meta) => {
        const container = await runnerContainer(docker, meta.pod ?? "");
        if (container === null) throw new Error(`no running container for pod ${meta.pod}`);
        await container.kill();
      },
      bootTimeoutMs: 60_000,
    },
  );
});
