/**
 * DockerBackend's defaults are the safe ones and still work with nothing configured (issue 22,
 * row 5): a runner sits on the backend's own internal bridge (`flame-ts-<app>`), the pool
 * listens on that bridge's gateway, and the runner runs as uid 65534. A function on such a
 * runner reaches neither a service on the host's 127.0.0.1, nor the telemetry server, nor an
 * abstract unix socket of the host; with `network: "host"` (the unsafe choice) it does.
 */
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { Pool } from "@flame-ts/pool-core";
import { serveTelemetry, type TelemetryServer } from "@flame-ts/pool-core/telemetry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echo as conformanceEcho } from "../../pool-core/src/testing/conformance-functions.mjs";
import { DockerBackend, type DockerBackendOptions, reapOrphans } from "../src/index.js";
import { managedNetworkName } from "../src/network.js";
import {
  dockerSuite,
  RUN_LABEL,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  testBackendOptions,
  useDockerTestRun,
} from "./docker-env.js";
import { dial, limits } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker safe defaults");
const NETWORK = managedNetworkName(TEST_APP);
/** An abstract unix socket ("\0" first): it lives in this test's network namespace only. */
const ABSTRACT_SOCKET = `\0flame-ts-test-${runTag}`;
/**
 * The same name as Node 20 binds and dials it: padded with NULs to all 108 bytes of
 * `sun_path` (libuv before 1.46), where Node 22+ uses the name's exact length. The runner in
 * the test image runs the Node that built it, which may not be this process's Node (CI runs
 * this suite on 20 and 24 with one image), so the test listens on both forms; on Node 20 they
 * are one name.
 */
const ABSTRACT_SOCKET_PADDED = ABSTRACT_SOCKET.padEnd(108, "\0");

async function listening(server: Server, where: number | string, host?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (typeof where === "string") server.listen(where, resolve);
    else server.listen(where, host, resolve);
  });
}

describe.skipIf(engine.skip)("DockerBackend defaults: safe and working", () => {
  const { docker } = engine;
  const run = useDockerTestRun(docker);
  const loopbackService = createServer((socket) => socket.end());
  const abstractService = createServer((socket) => socket.end());
  const abstractServicePadded = createServer((socket) => socket.end());
  let loopbackPort = 0;

  beforeAll(async () => {
    await listening(loopbackService, 0, "127.0.0.1");
    loopbackPort = (loopbackService.address() as { port: number }).port;
    await listening(abstractService, ABSTRACT_SOCKET);
    await listening(abstractServicePadded, ABSTRACT_SOCKET_PADDED).catch((error: unknown) => {
      // Node 20: the padded form is the name already bound above.
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    });
  });
  afterAll(() => {
    loopbackService.close();
    abstractService.close();
    abstractServicePadded.close();
  });

  function pool(extra: Partial<DockerBackendOptions> = {}): Pool {
    return run.track(
      new Pool({
        name: `safe${runTag}`,
        min: 0,
        max: 1,
        bootTimeout: 30_000,
        shutdownTimeout: 5_000,
        backend: new DockerBackend(testBackendOptions(extra)),
      }),
    );
  }

  it("with default options a runner reaches neither the host's loopback, nor the telemetry server, nor an abstract unix socket", async () => {
    const safe = pool();
    let telemetry: TelemetryServer | undefined;
    try {
      telemetry = await serveTelemetry({ pools: [safe], token: "t".repeat(32) });
      expect(await safe.call(dial, { host: "127.0.0.1", port: loopbackPort })).toBe("ECONNREFUSED");
      expect(await safe.call(dial, { host: "127.0.0.1", port: telemetry.port })).toBe(
        "ECONNREFUSED",
      );
      expect(await safe.call(dial, { path: ABSTRACT_SOCKET })).toBe("ECONNREFUSED");
    } finally {
      await telemetry?.close();
    }

    const containerId = safe.snapshot().runners[0]?.meta.containerId ?? "";
    const info = await docker.getContainer(containerId).inspect();
    expect(info.HostConfig.NetworkMode).toBe(NETWORK);
    const network = await docker.getNetwork(NETWORK).inspect();
    expect(network.Internal).toBe(true);
    expect(network.Labels).toMatchObject({
      "flame-ts.managed": "true",
      "flame-ts.app": TEST_APP,
      [RUN_LABEL]: runTag,
    });
  });

  it("with default options a runner runs as uid 65534, not as the image's root", async () => {
    const safe = pool();
    expect((await safe.call(limits, null)).uid).toBe(65534);
    const containerId = safe.snapshot().runners[0]?.meta.containerId ?? "";
    expect((await docker.getContainer(containerId).inspect()).Config.User).toBe("65534:65534");
  });

  it("an image whose USER is not root keeps its user", async () => {
    // The test image with a USER line (packages/runner-agent/Dockerfile sets one too).
    const image = `flame-ts/runner-test-user:${runTag}`;
    const build = spawnSync("docker", ["build", "-q", "-t", image, "-"], {
      input: `FROM ${TEST_IMAGE}\nLABEL ${RUN_LABEL}=${runTag}\nUSER 1000:1000\n`,
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
      encoding: "utf8",
    });
    expect(build.stderr).not.toMatch(/error/i);
    try {
      const own = pool({ image });
      expect((await own.call(limits, null)).uid).toBe(1000);
      await own.stop();
    } finally {
      await docker
        .getImage(image)
        .remove()
        .catch(() => {});
    }
  });

  it('network: "host" (the unsafe choice) still works, and there the runner does reach the host\'s loopback', async () => {
    const unsafe = pool({ network: "host" });
    expect(await unsafe.call(dial, { host: "127.0.0.1", port: loopbackPort })).toBe("connected");
    expect(await unsafe.call(dial, { path: ABSTRACT_SOCKET })).toBe("connected");
  });

  it("user: null runs the image's own user (root in the test image), a given user runs as given", async () => {
    const imageUser = pool({ user: null });
    expect((await imageUser.call(limits, null)).uid).toBe(0);
    await imageUser.stop();
    const given = pool({ user: "1234:1234" });
    expect((await given.call(limits, null)).uid).toBe(1234);
  });

  it("the reaper removes the app's network once no runner uses it; a live pool's next boot makes it again on the same subnet", async () => {
    const p = pool({ memoryMb: 256 });
    await p.call(dial, { host: "127.0.0.1", port: loopbackPort });
    const before = await docker.getNetwork(NETWORK).inspect();
    // In use: kept, whatever its age.
    expect((await reapOrphans({ docker, app: TEST_APP, olderThanMs: 1 })).removedNetworks).toEqual(
      [],
    );
    const runnerId = p.snapshot().runners[0]?.id ?? "";
    expect(p.killRunner(runnerId)).toBe(true);
    await expect.poll(() => p.snapshot().runners.length, { timeout: 20_000 }).toBe(0);
    // The container is removed by the daemon shortly after its exit.
    await expect
      .poll(
        async () =>
          (await reapOrphans({ docker, app: TEST_APP, olderThanMs: 1 })).removedNetworks.length,
        { timeout: 20_000, interval: 200 },
      )
      .toBe(1);
    await expect(docker.getNetwork(NETWORK).inspect()).rejects.toMatchObject({ statusCode: 404 });

    expect(await p.call(dial, { host: "127.0.0.1", port: loopbackPort })).toBe("ECONNREFUSED");
    const after = await docker.getNetwork(NETWORK).inspect();
    expect(after.Id).not.toBe(before.Id);
    expect(after.IPAM?.Config).toEqual(before.IPAM?.Config);
  });
});

describe.skipIf(engine.skip)("DockerBackend with zero configuration", () => {
  const { docker } = engine;
  const run = useDockerTestRun(docker);

  // The image's default functions module (FLAME_ENTRY in the image) is the conformance one.
  it("new DockerBackend({ image }) boots a runner and calls it, on the backend's own network", async () => {
    const zero = run.track(
      new Pool({
        name: `zero${runTag}`,
        max: 1,
        backend: new DockerBackend({ image: TEST_IMAGE }),
      }),
    );
    expect(await zero.call(conformanceEcho, { hi: 1 })).toEqual({ hi: 1 });
    const containerId = zero.snapshot().runners[0]?.meta.containerId ?? "";
    const info = await docker.getContainer(containerId).inspect();
    expect(info.HostConfig.NetworkMode).toBe(managedNetworkName("default"));
    // The shared "default" app network is reused by design (never removed while in use).
  });
});
