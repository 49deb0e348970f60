/**
 * DockerBackend.boot/stop directly (no pool): deadlines, daemon trouble, idempotent stop.
 */
import { randomBytes } from "node:crypto";
import { type BootRequest, isFlameError } from "@flame-ts/pool-core";
import {
  DEFAULT_EXECUTION,
  encodeParentDescriptor,
  PROTOCOL_VERSION,
} from "@flame-ts/pool-core/protocol";
import { describe, expect, it } from "vitest";
import { DockerBackend, LABEL } from "../src/index.js";
import {
  DOCKER_FIXTURE,
  probeDocker,
  RUN_LABEL,
  reportMissingDocker,
  runTag,
  TEST_IMAGE,
  waitFor,
} from "./docker-env.js";

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
  });
});

const probe = await probeDocker();
const skip = reportMissingDocker(probe, "backend-docker boot");

describe.skipIf(skip)("DockerBackend.boot and stop on a real Docker Engine", () => {
  const docker = probe.ok ? probe.docker : (undefined as never);
  const backend = new DockerBackend({
    image: TEST_IMAGE,
    env: { FLAME_ENTRY: DOCKER_FIXTURE },
    labels: { [RUN_LABEL]: runTag },
  });
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
    // A create the daemon finishes after the deadline is removed as soon as it lands.
    await waitFor(
      "no container",
      async () => (await containersOf(req.runnerId)).length === 0,
      15_000,
    );
  });

  it("gives up when the boot signal aborts, and says so", async () => {
    const controller = new AbortController();
    const req = bootRequest({ signal: controller.signal });
    const booting = backend.boot(req).catch((e: unknown) => e);
    controller.abort(new Error("pool stopping"));
    const error = await booting;
    expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/aborted \(pool stopping\)/);
    await waitFor(
      "no container",
      async () => (await containersOf(req.runnerId)).length === 0,
      15_000,
    );
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
    // The agent gives up dialing after its 2 s failsafe, well after this boot's deadline.
    const req = bootRequest({ deadlineMs: Date.now() + 10_000 }, 2_000);
    const runner = await backend.boot({ ...req, deadlineMs: Date.now() + 500 });
    const exit = await runner.exited;
    expect(exit.code).toBe(2);
    expect(exit.reason).toMatch(/last log lines:\nflame-runner: /);
  });
});
