/**
 * Shared by the Docker suites: is a daemon there (skip with one line, or fail under CI),
 * the test image (built on demand when missing), and the label that marks every container
 * this test run creates so the suite can assert none are left.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Dockerode from "dockerode";

export const TEST_IMAGE = process.env.FLAME_DOCKER_TEST_IMAGE ?? "flame-ts/runner-test:local";
/** The node-only base the test image is built on (build-test-image.mjs `--base-tag`). */
export const TEST_BASE_IMAGE =
  process.env.FLAME_DOCKER_TEST_BASE_IMAGE ?? "flame-ts/node-base:local";
/** Where scripts/docker/build-test-image.mjs puts this package's fixture module in the image. */
export const DOCKER_FIXTURE = "/app/fixtures/docker-functions.mjs";
export const RUN_LABEL = "flame-ts-test.run";
export const runTag = randomBytes(4).toString("hex");
/**
 * The DockerBackend/reapOrphans `app` scope of this test run: a reaper under test only ever
 * sees this run's containers, never another suite's or another engineer's on a shared daemon.
 */
export const TEST_APP = `test-${runTag}`;
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export type DockerProbe = { ok: true; docker: Dockerode } | { ok: false; why: string };

export async function probeDocker(): Promise<DockerProbe> {
  const docker = new Dockerode();
  try {
    await docker.ping();
    return { ok: true, docker };
  } catch (error) {
    return { ok: false, why: `no Docker daemon answering (${(error as Error).message})` };
  }
}

/** One line when skipping; under CI=true a missing daemon is a failure, never a skip. */
export function reportMissingDocker(probe: DockerProbe, suite: string): boolean {
  if (probe.ok) return false;
  if (process.env.CI === "true") {
    throw new Error(`${suite}: CI=true requires a Docker daemon: ${probe.why}. Run .ci/docker.sh.`);
  }
  console.warn(`[${suite}] skipped: ${probe.why}; start one with .ci/docker.sh`);
  return true;
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

/** Polls `probe` until it returns true; throws after `timeoutMs` saying what was awaited. */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
