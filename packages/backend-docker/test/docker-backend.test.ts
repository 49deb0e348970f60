/**
 * DockerBackend against a real Docker Engine (its default network, the FROM-scratch test image).
 * Skipped with one line when no daemon answers; under CI=true a missing daemon fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { hostname } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  currentParentIdentity,
  isFlameError,
  judgeParent,
  Pool,
  type PoolOptions,
  parentId,
} from "@flame-ts/pool-core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { DockerBackend, LABEL } from "../src/index.js";
import {
  DOCKER_FIXTURE,
  dockerSuite,
  RUN_LABEL,
  runContainers,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  testBackendOptions,
  useDockerTestRun,
} from "./docker-env.js";
// The same module the runner loads (bundled into the image): ids match by construction.
import { echo, hang, identityInContainer, whereAmI } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker");

describe.skipIf(engine.skip)("DockerBackend on a real Docker Engine", () => {
  const { docker } = engine;
  const children: ChildProcess[] = [];
  // Registered before the run's hooks, so it runs after them (vitest runs after-hooks as a stack).
  afterAll(async () => {
    // Other suites' and other runs' containers: reported, never touched.
    const all = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.managed}=true`] },
    });
    console.log(`[backend-docker] flame-ts containers left after the suite: ${all.length}`);
  });
  const run = useDockerTestRun(docker);

  function pool(options: Partial<PoolOptions> & { backend?: DockerBackend } = {}): Pool {
    return run.track(
      new Pool({
        name: `dk${runTag}`,
        min: 0,
        max: 2,
        bootTimeout: 30_000,
        shutdownTimeout: 5_000,
        backend: new DockerBackend(testBackendOptions()),
        ...options,
      }),
    );
  }

  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  });

  it("runs a call in a labelled container and removes it when the pool stops", async () => {
    const p = pool();
    await p.start();
    const out = await p.call(whereAmI, null, { timeout: 30_000 });
    // node is PID 1 in its own container.
    expect(out.pid).toBe(1);
    expect(await p.call(echo, { when: new Date(5), big: 12n })).toEqual({
      when: new Date(5),
      big: 12n,
    });

    const [runner] = p.snapshot().runners;
    expect(runner?.meta.containerId).toMatch(/^[0-9a-f]{12}$/);
    const [info] = await docker.listContainers({
      filters: { label: [`${LABEL.runner}=${runner?.id}`] },
    });
    expect(info?.Labels).toMatchObject({
      [LABEL.pool]: `dk${runTag}`,
      [LABEL.app]: TEST_APP,
      [LABEL.parent]: parentId,
      [LABEL.parentPid]: String(process.pid),
    });
    // The backend's own network by default (safe-defaults.test.ts).
    expect(info?.HostConfig.NetworkMode).toBe(`flame-ts-${TEST_APP}`);

    await p.stop();
    await expect.poll(() => runContainers(docker), { timeout: 15_000 }).toEqual([]);
  });

  it("turns `docker kill` of a runner mid-call into RUNNER_DOWN, and the next call succeeds", async () => {
    const p = pool({ max: 1 });
    await p.start();
    await p.call(echo, 1);
    const containerId = p.snapshot().runners[0]?.meta.containerId ?? "";
    const pending = p.call(hang, null, { timeout: 60_000 }).catch((e: unknown) => e);
    await expect
      .poll(() => p.snapshot().runners[0]?.inflight, { timeout: 10_000, interval: 20 })
      .toBe(1);

    const killedAt = performance.now();
    await docker.getContainer(containerId).kill();
    const error = await pending;
    const detectMs = performance.now() - killedAt;
    console.log(`[backend-docker] docker kill → RUNNER_DOWN in ${detectMs.toFixed(0)} ms`);
    expect(isFlameError(error, "RUNNER_DOWN")).toBe(true);

    expect(await p.call(echo, "again", { timeout: 30_000 })).toBe("again");
  });

  it("fails the boot with BOOT_FAILED naming a missing image, and leaves nothing behind", async () => {
    const image = `flame-ts/does-not-exist:${runTag}`;
    const p = pool({ min: 1, backend: new DockerBackend(testBackendOptions({ image })) });
    const error = await p.start().catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toContain(image);
    expect(await runContainers(docker)).toEqual([]);
  });

  it("fails the boot with BOOT_FAILED carrying the exit code and log of a container that exits at start", async () => {
    const backend = new DockerBackend(
      testBackendOptions({ env: { FLAME_ENTRY: "/app/fixtures/missing.mjs" } }),
    );
    const p = pool({ min: 1, backend });
    const error = await p.start().catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    // runner-agent exits 1 when its entry cannot load, and says so on stderr.
    expect((error as Error).message).toMatch(/code 1\b/);
    expect((error as Error).message).toContain("missing.mjs");
    await expect.poll(() => runContainers(docker), { timeout: 15_000 }).toEqual([]);
  });

  it("removes every container within the failsafe when the parent process is SIGKILLed", async () => {
    const failsafeMs = 5_000;
    const script = fileURLToPath(new URL("./parent/sigkill-parent.mjs", import.meta.url));
    const child = spawn(
      process.execPath,
      [script, TEST_IMAGE, DOCKER_FIXTURE, RUN_LABEL, runTag, "2", String(failsafeMs)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`parent exited early with code ${code}`)));
    });
    const { containers } = JSON.parse(line) as { containers: string[] };
    expect(containers).toHaveLength(2);

    const killedAt = performance.now();
    child.kill("SIGKILL");
    await expect
      .poll(() => runContainers(docker), {
        timeout: failsafeMs + 15_000,
        message: "every container of the killed parent gone",
      })
      .toEqual([]);
    console.log(
      `[backend-docker] parent SIGKILL → all containers gone in ${(performance.now() - killedAt).toFixed(0)} ms`,
    );
  }, 90_000);

  it("never judges dead a parent living in a host-network container's own pid namespace", async () => {
    // The runner stands for such a parent: it shares this host's name (host networking) but
    // is pid 1 of its own pid namespace, so "pid 1 on this host" says nothing about it.
    const p = pool({ backend: new DockerBackend(testBackendOptions({ network: "host" })) });
    const inContainer = await p.call(identityInContainer, null, { timeout: 30_000 });
    const here = currentParentIdentity("here");
    expect(inContainer.host).toBe(hostname());
    expect(inContainer.bootId).toBe(here.bootId);
    expect(inContainer.pid).toBe(1);
    expect(inContainer.pidNamespace).not.toBe(here.pidNamespace);
    expect(judgeParent(inContainer)).toEqual({
      alive: true,
      why: expect.stringMatching(/another pid namespace/),
    });
  });
});
