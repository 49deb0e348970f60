/**
 * Runners on a user-defined bridge network instead of the host's: the test creates the
 * network (removed afterwards), the parent listens on the bridge's gateway address only, and
 * `listen.advertiseUrl` points the runners at it. All traffic stays on that bridge.
 *
 * The engine here runs `dockerd --bridge=none --iptables=false`: there is no default bridge,
 * but a user-defined one works (no NAT is needed between a bridge and its own gateway). If the
 * engine cannot make one, this suite says why and skips — except under CI=true, where it fails.
 */
import { createServer, type Server } from "node:net";
import { Pool } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerBackend, type DockerBackendOptions } from "../src/index.js";
import {
  dockerSuite,
  RUN_LABEL,
  runTag,
  testBackendOptions,
  useDockerTestRun,
} from "./docker-env.js";
import { dial, whereAmI } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker bridge");
const NETWORK = `flame-br-${runTag}`;

type Bridge = { network: Dockerode.Network; gateway: string };

/** Creates the bridge network; on an engine that cannot, says why (and fails under CI=true). */
async function createBridge(docker: Dockerode): Promise<Bridge | { why: string }> {
  try {
    const network = await docker.createNetwork({
      Name: NETWORK,
      Driver: "bridge",
      CheckDuplicate: true,
      Labels: { [RUN_LABEL]: runTag },
    });
    const info = (await network.inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
    const gateway = info.IPAM?.Config?.[0]?.Gateway;
    if (gateway !== undefined) return { network, gateway };
    await network.remove().catch(() => {});
    throw new Error("the new network has no IPv4 gateway");
  } catch (error) {
    const why = `cannot create a bridge network on this engine (${(error as Error).message})`;
    if (process.env.CI === "true") throw new Error(`backend-docker bridge: CI=true: ${why}`);
    console.warn(`[backend-docker bridge] skipped: ${why}`);
    return { why };
  }
}

/** A free port on `host`: nobody else binds this test's own gateway address. */
async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

describe.skipIf(engine.skip)(
  "DockerBackend on a user-defined bridge network with listen.advertiseUrl",
  () => {
    const { docker } = engine;
    let bridge: Bridge | { why: string } = { why: "not created yet" };
    let loopbackService: Server | undefined;
    const run = useDockerTestRun(docker, {
      // Only the network this test created, once no container uses it.
      afterContainersGone: async () => {
        if ("network" in bridge) await bridge.network.remove();
      },
    });

    async function pool(
      extra: Partial<DockerBackendOptions>,
      listen?: { host: string; port: number; advertiseUrl: string },
    ) {
      return run.track(
        new Pool({
          name: `br${runTag}`,
          min: 0,
          max: 1,
          bootTimeout: 30_000,
          shutdownTimeout: 5_000,
          ...(listen === undefined ? {} : { listen }),
          backend: new DockerBackend(testBackendOptions(extra)),
        }),
      );
    }

    // After the run's own beforeAll, which makes sure the test image is there.
    beforeAll(async () => {
      bridge = await createBridge(docker);
    }, 60_000);

    afterAll(() => {
      loopbackService?.close();
    });

    it("runs calls on a runner that dials the parent at the advertised gateway address, and cannot reach the host's loopback", async (ctx) => {
      if (!("gateway" in bridge)) return ctx.skip(bridge.why);
      const { gateway } = bridge;
      // A service on the host's loopback: a host-network runner reaches it, a bridged one cannot.
      loopbackService = createServer((socket) => socket.end());
      await new Promise<void>((resolve) => loopbackService?.listen(0, "127.0.0.1", resolve));
      const loopbackPort = (loopbackService.address() as { port: number }).port;

      const port = await freePort(gateway);
      const bridged = await pool(
        { network: NETWORK },
        { host: gateway, port, advertiseUrl: `ws://${gateway}:${port}` },
      );
      const out = await bridged.call(whereAmI, null, { timeout: 30_000 });
      expect(out.pid).toBe(1);

      const containerId = bridged.snapshot().runners[0]?.meta.containerId ?? "";
      const info = await docker.getContainer(containerId).inspect();
      expect(info.HostConfig.NetworkMode).toBe(NETWORK);
      const runnerAddress = info.NetworkSettings.Networks[NETWORK]?.IPAddress ?? "";
      // The runner sits on the bridge, next to the gateway (same /16 or narrower).
      expect(runnerAddress.split(".").slice(0, 2)).toEqual(gateway.split(".").slice(0, 2));

      // 127.0.0.1 inside a bridged container is the container's own loopback.
      expect(await bridged.call(dial, { host: "127.0.0.1", port: loopbackPort })).toBe(
        "ECONNREFUSED",
      );
      await bridged.stop();

      const hostNetwork = await pool({ network: "host" });
      expect(await hostNetwork.call(dial, { host: "127.0.0.1", port: loopbackPort })).toBe(
        "connected",
      );
    });
  },
);
