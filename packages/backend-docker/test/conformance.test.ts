/**
 * The shared backend conformance suite (`@flame-ts/pool-core/testing`) against DockerBackend.
 * Runners load the suite's own functions module, bundled into the test image.
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceEntry, describeBackendConformance } from "@flame-ts/pool-core/testing";
import { describe } from "vitest";
import { DockerBackend } from "../src/index.js";
import { dockerSuite, testBackendOptions, useDockerTestRun } from "./docker-env.js";

const engine = await dockerSuite("backend-docker conformance");
// scripts/docker/build-test-image.mjs puts every fixture module in /app/fixtures/<file name>.
const entryInImage = `/app/fixtures/${basename(fileURLToPath(conformanceEntry))}`;

describe.skipIf(engine.skip)("DockerBackend", () => {
  const { docker } = engine;
  useDockerTestRun(docker);

  describeBackendConformance(
    "docker",
    () => new DockerBackend(testBackendOptions({}, entryInImage)),
    {
      killRunner: async (meta) => {
        await docker.getContainer(meta.containerId ?? "").kill();
      },
    },
  );
});
