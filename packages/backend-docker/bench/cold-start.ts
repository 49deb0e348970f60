/**
 * Cold start on Docker: `pool.call` on an empty pool (boot a container, agent hello, run the
 * call, result) against a bare `docker run --rm` of the same image on the same network,
 * measured in the same run: on the backend's default network (`flame-ts-default`, a network
 * namespace and a veth per container) and on `network: "host"`.
 *
 *   node --conditions=source --import tsx packages/backend-docker/bench/cold-start.ts [runs]
 *
 * Needs a Docker daemon and the test image (node scripts/docker/build-test-image.mjs).
 * Prints one JSON line with the medians and the ratio; figures are never asserted.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Pool } from "@flame-ts/pool-core";
import Dockerode from "dockerode";
import { DockerBackend } from "../src/index.js";
import { DOCKER_FIXTURE, TEST_IMAGE } from "../test/docker-env.js";
import { echo } from "../test/fixtures/docker-functions.mjs";

const runs = Number(process.argv[2] ?? 10);
const run = promisify(execFile);

/** The backend's default network for the default app (network.ts). */
const DEFAULT_NETWORK = "flame-ts-default";
type Network = typeof DEFAULT_NETWORK | "host";

async function bareDockerRunMs(network: Network): Promise<number> {
  const started = performance.now();
  // The same image and entrypoint; with no FLAME_PARENT the agent starts, says why, exits 1.
  await run("docker", ["run", "--rm", "--network", network, TEST_IMAGE]).catch(() => {});
  return performance.now() - started;
}

/** The same container run through the Engine API (no CLI process): create, start, wait removed. */
async function bareApiRunMs(docker: Dockerode, network: Network): Promise<number> {
  const started = performance.now();
  const container = await docker.createContainer({
    Image: TEST_IMAGE,
    HostConfig: { NetworkMode: network, AutoRemove: true },
  });
  const removed = container.wait({ condition: "removed" });
  await container.start();
  await removed;
  return performance.now() - started;
}

async function coldCallMs(index: number, network: Network): Promise<number> {
  const pool = new Pool({
    name: `bench${index}`,
    min: 0,
    max: 1,
    backend: new DockerBackend({
      image: TEST_IMAGE,
      env: { FLAME_ENTRY: DOCKER_FIXTURE },
      // Unset: the backend's own network (DEFAULT_NETWORK), made by the warm-up if missing.
      ...(network === "host" ? { network } : {}),
    }),
  });
  await pool.start();
  try {
    const started = performance.now();
    await pool.call(echo, index);
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

// One warm-up of each so neither pays first-use costs (page cache, daemon caches); the first
// cold call also creates the default network the bare runs then use.
const docker = new Dockerode();
const results: Record<string, unknown> = { bench: "docker-cold-start", runs };
for (const network of [DEFAULT_NETWORK, "host"] as const) {
  await coldCallMs(-1, network);
  await bareDockerRunMs(network);
  await bareApiRunMs(docker, network);
  const bare: number[] = [];
  const bareApi: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await bareDockerRunMs(network));
    bareApi.push(await bareApiRunMs(docker, network));
    cold.push(await coldCallMs(i, network));
  }
  const bareStats = stats(bare);
  const bareApiStats = stats(bareApi);
  const coldStats = stats(cold);
  results[network === "host" ? "host" : "defaultNetwork"] = {
    bareDockerRun: bareStats,
    bareApiRun: bareApiStats,
    coldCall: coldStats,
    ratioVsDockerRun: Number((coldStats.medianMs / bareStats.medianMs).toFixed(2)),
    ratioVsApiRun: Number((coldStats.medianMs / bareApiStats.medianMs).toFixed(2)),
  };
}
console.log(JSON.stringify(results));
