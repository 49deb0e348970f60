/**
 * Issue 11 on Docker: a runner container runs functions on worker threads sized by its CPU
 * quota (`cpus`), stops an endless loop at its deadline, and survives an uncaught error.
 */
import { Pool, type PoolOptions } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import { DockerBackend } from "../src/index.js";
import { dockerSuite, runTag, testBackendOptions, useDockerTestRun } from "./docker-env.js";
import { rendezvous, spinForever, threadOf, throwLater } from "./fixtures/cpu-functions.mjs";

const engine = await dockerSuite("backend-docker worker threads");
const CPU_FIXTURE = "/app/fixtures/cpu-functions.mjs";

describe.skipIf(engine.skip)("DockerBackend runners on worker threads", () => {
  const run = useDockerTestRun(engine.docker);

  function pool(cpus: number, options: Partial<PoolOptions> = {}): Pool {
    return run.track(
      new Pool({
        name: `dc${runTag}`,
        max: 1,
        maxConcurrency: 4,
        bootTimeout: 30_000,
        shutdownTimeout: 5_000,
        backend: new DockerBackend(testBackendOptions({ cpus }, CPU_FIXTURE)),
        ...options,
      }),
    );
  }

  it("cpus: 2 gets 2 threads: two blocking calls run at the same time", async () => {
    const p = pool(2);
    // Under /tmp: the runner is uid 65534, which may not write to /.
    const dir = `/tmp/rendezvous-${runTag}`;
    const peers = ["a", "b"];
    const [a, b] = await Promise.all(
      peers.map((name) => p.call(rendezvous, { dir, name, peers, boundMs: 20_000 })),
    );
    expect(a!.threadId).not.toBe(b!.threadId);
  }, 60_000);

  it("cpus: 1 gets 1 thread even though the host has more cores", async () => {
    const p = pool(1);
    const ran = await Promise.all([1, 2, 3, 4].map(() => p.call(threadOf, { ms: 50 })));
    expect(new Set(ran.map((r) => r.threadId)).size).toBe(1);
  }, 60_000);

  it("an endless loop gets TIMEOUT, its thread is terminated, the container serves on", async () => {
    const p = pool(2, { min: 1, execution: { terminateGraceMs: 200 } });
    await p.start();
    const runnerId = p.snapshot().runners[0]!.id;
    await expect(p.call(spinForever, null, { timeout: 500 })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    await expect.poll(() => p.snapshot().runners[0]?.inflight, { timeout: 10_000 }).toBe(0);
    expect((await p.call(threadOf, { ms: 1 })).pid).toBeGreaterThan(0);
    expect(p.snapshot().runners.map((r) => r.id)).toEqual([runnerId]);
  }, 60_000);

  it("an uncaught error in one call fails that call with REMOTE_ERROR; the runner carries on", async () => {
    const p = pool(2, { min: 1 });
    await p.start();
    const runnerId = p.snapshot().runners[0]!.id;
    await expect(p.call(throwLater, { message: "boom in a container" })).rejects.toMatchObject({
      code: "REMOTE_ERROR",
      remote: { message: "boom in a container" },
    });
    expect((await p.call(threadOf, { ms: 1 })).pid).toBeGreaterThan(0);
    expect(p.snapshot().runners.map((r) => r.id)).toEqual([runnerId]);
  }, 60_000);
});
