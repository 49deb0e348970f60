/**
 * What a runner container may do and use, read from inside the running container: no
 * capabilities, no_new_privs, and the pids, memory and CPU limits the cgroup enforces.
 */
import { Pool } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_PIDS_LIMIT,
  DockerBackend,
  type DockerBackendOptions,
} from "../src/index.js";
import { dockerSuite, runTag, testBackendOptions, useDockerTestRun } from "./docker-env.js";
import { limits } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker limits");
const MiB = 1024 * 1024;

describe.skipIf(engine.skip)("runner containers' privileges and limits", () => {
  const { docker } = engine;
  const run = useDockerTestRun(docker);

  function pool(extra: Partial<DockerBackendOptions> = {}): Pool {
    return run.track(
      new Pool({
        name: `lim${runTag}`,
        min: 0,
        max: 1,
        bootTimeout: 30_000,
        shutdownTimeout: 5_000,
        backend: new DockerBackend(testBackendOptions(extra)),
      }),
    );
  }

  it("drops every capability, sets no-new-privileges, and limits pids and memory by default", async () => {
    const p = pool();
    const inside = await p.call(limits, null, { timeout: 30_000 });
    expect(inside).toMatchObject({
      capEff: "0000000000000000",
      noNewPrivs: "1",
      pidsMax: String(DEFAULT_PIDS_LIMIT),
      memoryLimitBytes: String(DEFAULT_MEMORY_MB * MiB),
      // No CPU quota unless `cpus` is set.
      cpuQuotaUs: "-1",
    });
    const containerId = p.snapshot().runners[0]?.meta.containerId ?? "";
    const { HostConfig } = await docker.getContainer(containerId).inspect();
    expect(HostConfig.CapDrop).toEqual(["ALL"]);
    expect(HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    // No swap on top of the memory limit.
    expect(HostConfig.MemorySwap).toBe(DEFAULT_MEMORY_MB * MiB);
  });

  it("honours cpus as a CFS quota (what the runner-agent sizes its threads from), memoryMb and pidsLimit", async () => {
    const p = pool({ cpus: 1.5, memoryMb: 256, pidsLimit: 64 });
    const inside = await p.call(limits, null, { timeout: 30_000 });
    expect(inside).toMatchObject({
      cpuQuotaUs: "150000",
      cpuPeriodUs: "100000",
      memoryLimitBytes: String(256 * MiB),
      pidsMax: "64",
    });
  });

  it("gives back only the capabilities listed in capAdd, and lifts limits set to null", async () => {
    // Given-back capabilities are effective for root only (`user: null`: the test image's root);
    // a non-root user, the default, starts with none whatever capAdd says.
    const p = pool({ capAdd: ["NET_BIND_SERVICE"], memoryMb: null, pidsLimit: null, user: null });
    const inside = await p.call(limits, null, { timeout: 30_000 });
    expect(inside.uid).toBe(0);
    // CAP_NET_BIND_SERVICE is capability 10.
    expect(inside.capEff).toBe((1 << 10).toString(16).padStart(16, "0"));
    expect(inside.noNewPrivs).toBe("1");
    expect(inside.pidsMax).toBe("max");
    expect(Number(inside.memoryLimitBytes)).toBeGreaterThan(DEFAULT_MEMORY_MB * MiB);
  });

  it("runs as the given user, still without capabilities", async () => {
    const p = pool({ user: "1000:1000" });
    const inside = await p.call(limits, null, { timeout: 30_000 });
    expect(inside).toMatchObject({ uid: 1000, capEff: "0000000000000000", noNewPrivs: "1" });
  });
});
