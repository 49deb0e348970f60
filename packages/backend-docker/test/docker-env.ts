/**
 * The preamble every Docker suite shares: is a daemon there (skip with one line, or fail under
 * CI), the test image (built on demand when missing), the label that marks every container
 * this test run creates, and the hooks that stop the suite's pools and prove none are left.
 *
 *     const engine = await dockerSuite("backend-docker limits");
 *     describe.skipIf(engine.skip)("…", () => {
 *       const { docker } = engine;
 *       const run = useDockerTestRun(docker);
 *       const pool = run.track(new Pool({ backend: new DockerBackend(testBackendOptions()) }));
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Pool } from "@flame-ts/pool-core";
import Dockerode from "dockerode";
import { afterAll, afterEach, beforeAll, expect, vi } from "vitest";
import type { DockerBackendOptions } from "../src/index.js";
import { managedNetworkName } from "../src/network.js";

export const TEST_IMAGE = process.env.FLAME_DOCKER_TEST_IMAGE ?? "flame-ts/runner-test:local";
/** The node-only base the test image is built on (build-test-image.mjs `--base-tag`). */
const TEST_BASE_IMAGE = process.env.FLAME_DOCKER_TEST_BASE_IMAGE ?? "flame-ts/node-base:local";
/** Where scripts/docker/build-test-image.mjs puts this package's fixture module in the image. */
export const DOCKER_FIXTURE = "/app/fixtures/docker-functions.mjs";
export const RUN_LABEL = "flame-ts-test.run";
export const runTag = randomBytes(4).toString("hex");
/**
 * The DockerBackend/reapOrphans `app` scope of this test run: a reaper under test only ever
 * sees this run's containers, never another suite's or another engineer's on a shared daemon.
 */
export const TEST_APP = `test-${runTag}`;
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export interface DockerSuite {
  /** True when no daemon answers (one line was printed); under CI=true that threw instead. */
  readonly skip: boolean;
  /**
   * The engine's client. A skipped describe still runs its body (only its tests and hooks are
   * skipped), so it exists either way; nothing calls it when `skip` is true.
   */
  readonly docker: Dockerode;
}

/** Asks the daemon once, at the top of a suite file; `suite` names it in the skip line. */
export async function dockerSuite(suite: string): Promise<DockerSuite> {
  const docker = new Dockerode();
  try {
    await docker.ping();
    return { skip: false, docker };
  } catch (error) {
    const why = `no Docker daemon answering (${(error as Error).message})`;
    if (process.env.CI === "true")
      throw new Error(`${suite}: CI=true requires a Docker daemon: ${why}. Run .ci/docker.sh.`);
    console.warn(`[${suite}] skipped: ${why}; start one with .ci/docker.sh`);
    return { skip: true, docker };
  }
}

/**
 * DockerBackend options for this run's containers: the test image, the fixture module the
 * agent loads (`entry`, a path inside the image), this run's label and app scope.
 */
export function testBackendOptions(
  extra: Partial<DockerBackendOptions> = {},
  entry = DOCKER_FIXTURE,
): DockerBackendOptions {
  return {
    image: TEST_IMAGE,
    env: { FLAME_ENTRY: entry },
    labels: { [RUN_LABEL]: runTag },
    app: TEST_APP,
    ...extra,
  };
}

export interface DockerTestRun {
  /** Stops `pool` after the current test, even when an assertion failed before its own stop. */
  track(pool: Pool): Pool;
}

/**
 * Registers a suite's hooks: the test image exists before the first test; tracked pools stop
 * after each test; when the suite ends every container of this run is gone (removed, not only
 * stopped), and what is still there after 20 s is removed and fails the suite.
 * `afterContainersGone` runs in between (e.g. removing a network those containers used).
 */
export function useDockerTestRun(
  docker: Dockerode,
  options: { afterContainersGone?: () => Promise<void> } = {},
): DockerTestRun {
  const pools: Pool[] = [];
  beforeAll(() => ensureTestImage(docker), 240_000);
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.stop().catch(() => {})));
  });
  afterAll(async () => {
    const left = await vi
      .waitFor(async () => expect(await runContainers(docker)).toEqual([]), {
        timeout: 20_000,
        interval: 100,
      })
      .then(
        () => [],
        () => runContainers(docker),
      );
    for (const info of left) {
      await docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => {});
    }
    await options.afterContainersGone?.();
    // The backend's own network for this run's app scope (network.ts), once no container uses it.
    await docker
      .getNetwork(managedNetworkName(TEST_APP))
      .remove()
      .catch(() => {});
    expect(left.map((info) => `${info.Names.join(",")} (${info.State})`)).toEqual([]);
  }, 30_000);
  return {
    track(pool) {
      pools.push(pool);
      return pool;
    },
  };
}

export async function ensureTestImage(docker: Dockerode): Promise<void> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return;
  } catch {
    // Missing: build it (what .ci/docker.sh does), so `npm test` works on a fresh machine.
  }
  await promisify(execFile)(
    process.execPath,
    ["scripts/docker/build-test-image.mjs", "--tag", TEST_IMAGE, "--base-tag", TEST_BASE_IMAGE],
    { cwd: repoRoot, timeout: 180_000 },
  );
}

/** Containers of this test run (any state). */
export async function runContainers(docker: Dockerode): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runTag}`] } });
}

/**
 * `vi.waitUntil` in the argument order the Kubernetes suites use (they import it from here);
 * a failure says what was awaited. Docker suites poll with `expect.poll` or `vi.waitFor`.
 */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  await vi
    .waitUntil(probe, { timeout: timeoutMs, interval: intervalMs })
    .catch((error: unknown) => {
      throw new Error(`waiting for ${what} (bound ${timeoutMs} ms): ${(error as Error).message}`, {
        cause: error,
      });
    });
}
