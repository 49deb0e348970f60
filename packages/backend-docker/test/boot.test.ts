/**
 * DockerBackend.boot/stop directly (no pool): deadlines, daemon trouble, idempotent stop.
 */
import { randomBytes } from "node:crypto";
import { type BootRequest, isFlameError } from "@flame-ts/pool-core";
import { DEFAULT_EXECUTION, encodeParentDescriptor } from "@flame-ts/pool-core/protocol";
import { PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerBackend, LABEL } from "../src/index.js";
import { dockerSuite, runTag, testBackendOptions, useDockerTestRun } from "./docker-env.js";

function bootRequest(
  overrides: Partial<BootRequest> = {},
  failsafeTimeoutMs = 60_000,
): BootRequest {
  const runnerId = `boot-${randomBytes(4).toString("hex")}`;
  const FLAME_PARENT = encodeParentDescriptor({
    // Nobody listens here: the agent keeps dialing until its failsafe.
    url: "ws://127.0.0.1:9/",
    token: "t".repeat(43),
    runnerId,
    pool: "boot",
    protocol: PROTOCOL_VERSION,
    idleShutdownAfterMs: null,
    singleUse: false,
    failsafeTimeoutMs,
    shutdownTimeoutMs: 1_000,
    maxFrameBytes: 1 << 20,
    heartbeatIntervalMs: 1_000,
    heartbeatTimeoutMs: 10_000,
    maxConcurrency: 1,
    execution: DEFAULT_EXECUTION,
  });
  return {
    runnerId,
    poolName: "boot",
    parentId: `boot-test-${runTag}`,
    env: { FLAME_PARENT },
    signal: new AbortController().signal,
    deadlineMs: Date.now() + 30_000,
    ...overrides,
  };
}

describe("DockerBackend without a daemon", () => {
  it("fails a boot with BOOT_FAILED saying the daemon is unreachable and where", async () => {
    const backend = new DockerBackend({
      image: "x",
      docker: { socketPath: "/tmp/flame-ts-no-docker.sock" },
    });
    const error = await backend.boot(bootRequest()).catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(
      /daemon unreachable at \/tmp\/flame-ts-no-docker\.sock/,
    );
    // A daemon may come back: the pool retries.
    expect((error as { permanent?: boolean }).permanent).toBe(false);
  });
});

const engine = await dockerSuite("backend-docker boot");

describe.skipIf(engine.skip)("DockerBackend.boot and stop on a real Docker Engine", () => {
  const { docker } = engine;
  useDockerTestRun(docker);
  const backend = new DockerBackend(testBackendOptions());

  const containersOf = (runnerId: string) =>
    docker.listContainers({ all: true, filters: { label: [`${LABEL.runner}=${runnerId}`] } });

  it("stops idempotently: the container is killed, removed, and exited settles", async () => {
    const req = bootRequest();
    const runner = await backend.boot(req);
    expect(runner.meta.containerName).toBe(`flame-${req.runnerId}`);
    expect(await containersOf(req.runnerId)).toHaveLength(1);

    await Promise.all([runner.stop(), runner.stop()]);
    await runner.stop();
    const exit = await runner.exited;
    expect(exit.reason).toMatch(/stopped by the pool/);
    expect(await containersOf(req.runnerId)).toEqual([]);
  });

  it("gives up at the boot deadline with BOOT_FAILED and leaves no container", async () => {
    const req = bootRequest({ deadlineMs: Date.now() + 5 });
    const error = await backend.boot(req).catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/deadline passed/);
    expect((error as { permanent?: boolean }).permanent).toBe(false);
    // A create the daemon finishes after the deadline is removed as soon as it lands.
    await expect.poll(() => containersOf(req.runnerId), { timeout: 15_000 }).toEqual([]);
  });

  it("gives up when the boot signal aborts, and says so", async () => {
    const controller = new AbortController();
    const req = bootRequest({ signal: controller.signal });
    const booting = backend.boot(req).catch((e: unknown) => e);
    controller.abort(new Error("pool stopping"));
    const error = await booting;
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/aborted \(pool stopping\)/);
    await expect.poll(() => containersOf(req.runnerId), { timeout: 15_000 }).toEqual([]);
  });

  it("reports the exit code and last log lines when the agent exits on its own", async () => {
    const req = bootRequest({ env: { FLAME_PARENT: "not-a-descriptor" } });
    const runner = await backend.boot(req);
    const exit = await runner.exited;
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/container exited with code 1; last log lines:\nflame-runner: /);
    await runner.stop(); // after exit: a no-op that still resolves
  });

  it("still has the container's last lines when it exits after the boot deadline passed", async () => {
    // The boot's signal aborts (as at its deadline) once boot() has returned; the agent gives
    // up dialing later, after its 2 s failsafe. No race on how long the boot itself takes.
    const deadline = new AbortController();
    const runner = await backend.boot(bootRequest({ signal: deadline.signal }, 2_000));
    deadline.abort(new Error("boot deadline passed"));
    const exit = await runner.exited;
    expect(exit.code).toBe(2);
    expect(exit.reason).toMatch(/last log lines:\nflame-runner: /);
  });

  it.each([
    ["a missing image", { image: `flame-ts/does-not-exist:${runTag}` }, /is not available/],
    ["a network that does not exist", { network: `flame-no-net-${runTag}` }, /refused/],
    ["more CPUs than the host has", { cpus: 4096 }, /refused/],
  ])("fails permanently (no retry can help) on %s", async (_what, extra, message) => {
    const req = bootRequest();
    const error = await new DockerBackend(testBackendOptions(extra))
      .boot(req)
      .catch((e: unknown) => e);
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as { permanent?: boolean }).permanent).toBe(true);
    expect(await containersOf(req.runnerId)).toEqual([]);
  });

  it("re-inspects a container whose wait stream breaks: a running one is still watched, its real exit reported", async () => {
    const faults = breakableWaits();
    const runner = await new DockerBackend(testBackendOptions({ docker: faults.docker })).boot(
      bootRequest(),
    );
    faults.breakFirstWait();
    // Before: `exited` settled as soon as the stream broke, though the container ran on.
    const outcome = await Promise.race([
      runner.exited.then(() => "reported exited"),
      faults.waitCount(2).then(() => "watching again"),
    ]);
    expect(outcome).toBe("watching again");
    const containerId = runner.meta.containerId ?? "";
    expect((await docker.getContainer(containerId).inspect()).State.Running).toBe(true);

    await docker.getContainer(containerId).kill();
    const exit = await runner.exited;
    expect(exit.code).toBe(137);
    expect(exit.reason).toMatch(/^container exited with code 137/);
  });

  it("reports the exit code from inspect when every wait stream breaks and the container exits", async () => {
    const faults = breakableWaits({ alwaysBroken: true });
    const backend = new DockerBackend(
      testBackendOptions({ docker: faults.docker, autoRemove: false }),
    );
    const req = bootRequest({ env: { FLAME_PARENT: "not-a-descriptor" } });
    const runner = await backend.boot(req);
    const exit = await runner.exited;
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/^container exited with code 1/);
    expect(faults.waits()).toBeGreaterThanOrEqual(1);
    await runner.stop();
    expect(await containersOf(req.runnerId)).toEqual([]);
  });
});

/**
 * A real Dockerode whose containers' wait streams break on demand, as an HTTP stream does
 * when the daemon restarts or a socket is reset (dockerode rejects the wait's promise).
 */
function breakableWaits(mode: { alwaysBroken?: boolean } = {}) {
  const docker = new Dockerode();
  let waits = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let breakFirst: (error: Error) => void = () => {};
  const firstBroken = new Promise<never>((_resolve, reject) => {
    breakFirst = reject;
  });
  firstBroken.catch(() => {});
  const reset = () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  const create = docker.createContainer.bind(docker);
  docker.createContainer = (async (opts: Dockerode.ContainerCreateOptions) => {
    const container = await create(opts);
    const realWait = container.wait.bind(container);
    container.wait = ((waitOptions: object) => {
      waits++;
      for (const waiter of waiters.filter((w) => w.count <= waits)) waiter.resolve();
      if (mode.alwaysBroken) return Promise.reject(reset());
      const real = realWait(waitOptions) as Promise<unknown>;
      return waits === 1 ? Promise.race([real, firstBroken]) : real;
    }) as typeof container.wait;
    return container;
  }) as typeof docker.createContainer;
  return {
    docker,
    breakFirstWait: () => breakFirst(reset()),
    waits: () => waits,
    waitCount: (count: number) =>
      new Promise<void>((resolve) => {
        if (waits >= count) resolve();
        else waiters.push({ count, resolve });
      }),
  };
}
