/**
 * The shared backend conformance suite (`@flame-ts/pool-core/testing`) against
 * KubernetesBackend on the test cluster. Runner pods use the Docker suites' test image, whose
 * functions include the suite's own; they share the host's network (no CNI here), so the
 * pool's default loopback listener is where they dial.
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceEntry, describeBackendConformance } from "@flame-ts/pool-core/testing";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { KubernetesBackend } from "../src/index.js";
import {
  createNamespace,
  deleteNamespace,
  ensureTestImage,
  leftovers,
  probeCluster,
  reportMissingCluster,
  runnerContainer,
  TEST_APP,
  TEST_IMAGE,
  waitFor,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s conformance");
const entryInImage = `/app/fixtures/${basename(fileURLToPath(conformanceEntry))}`;

describe.skipIf(skip)("KubernetesBackend", () => {
  const { core, docker, kubeConfig } = probe.ok ? probe : (undefined as never);
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
    () =>
      new KubernetesBackend({
        kubeConfig,
        namespace,
        image: TEST_IMAGE,
        imagePullPolicy: "Never",
        env: { FLAME_ENTRY: entryInImage },
        app: TEST_APP,
        podTemplate: { spec: { hostNetwork: true } },
        stopGracePeriodSeconds: 1,
      }),
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
