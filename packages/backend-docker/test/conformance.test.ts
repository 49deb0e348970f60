/**
 * The shared backend conformance suite (`@flame-ts/pool-core/testing`) against DockerBackend.
 * Runners load the suite's own functions module, bundled into the test image.
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceEntry, describeBackendConformance } from "@flame-ts/pool-core/testing";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { DockerBackend } from "../src/index.js";
import {
  ensureTestImage,
  probeDocker,
  RUN_LABEL,
  reportMissingDocker,
  runContainers,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  waitFor,
} from "./docker-env.js";

const probe = await probeDocker();
const skip = reportMissingDocker(probe, "backend-docker conformance");
// scripts/docker/build-test-image.mjs puts every fixture module in /app/fixtures/<file name>.
const entryInImage = `/app/fixtures/${basename(fileURLToPath(conformanceEntry))}`;

describe.skipIf(skip)("DockerBackend", () => {
  const docker = probe.ok ? probe.docker : (undefined as never);

  beforeAll(() => ensureTestImage(docker), 240_000);

  afterAll(async () => {
    await waitFor(
      "the conformance run's containers to be removed",
      async () => (await runContainers(docker)).length === 0,
      20_000,
    );
    expect(await runContainers(docker)).toEqual([]);
  }, 30_000);

  describeBackendConformance(
    "docker",
    () =>
      new DockerBackend({
        image: TEST_IMAGE,
        env: { FLAME_ENTRY: entryInImage },
        labels: { [RUN_LABEL]: runTag },
        app: TEST_APP,
      }),
    {
      killRunner: async (meta) => {
        await docker.getContainer(meta.containerId ?? "").kill();
      },
    },
  );
});
