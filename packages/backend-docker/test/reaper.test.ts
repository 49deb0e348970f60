/**
 * reapOrphans on a real Docker Engine. Every container here carries this run's app scope
 * (TEST_APP), so the reaper under test never sees another suite's or engineer's containers.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  currentParentIdentity,
  isFlameError,
  type ParentIdentity,
  Pool,
  parentId,
} from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { DockerBackend, reapOrphans } from "../src/index.js";
import { runnerLabels } from "../src/labels.js";
import {
  dockerSuite,
  RUN_LABEL,
  runContainers,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  testBackendOptions,
  useDockerTestRun,
} from "./docker-env.js";
import { echo } from "./fixtures/docker-functions.mjs";

const engine = await dockerSuite("backend-docker reaper");
const OTHER_APP = `${TEST_APP}-other`;

describe.skipIf(engine.skip)("reapOrphans on a real Docker Engine", () => {
  const { docker } = engine;
  const stopChildren: Array<() => Promise<void>> = [];

  // Registered before the run's hooks, so it runs after its pools have stopped (a stack).
  afterEach(async () => {
    await Promise.all(stopChildren.splice(0).map((stop) => stop()));
    // Only this run's containers, found by its own label.
    for (const info of await runContainers(docker)) {
      await docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  const run = useDockerTestRun(docker);

  it("reaps containers of a dead parent, keeps a live parent's, and never its own", async () => {
    const live = await parentProcess("live");
    const dead = await parentProcess("dead");
    await dead.kill();
    const deadContainer = await orphanContainer(dead.identity, "running");
    const liveContainer = await orphanContainer(live.identity, "created");

    const p = new Pool({
      name: `reap${runTag}`,
      min: 1,
      max: 1,
      bootTimeout: 30_000,
      backend: new DockerBackend(testBackendOptions()),
    });
    run.track(p);
    await p.start();
    const ownContainer = p.snapshot().runners[0]?.meta.containerId ?? "";

    // Too young to be considered: nothing is touched.
    const young = await reapOrphans({ docker, app: TEST_APP, olderThanMs: 3_600_000 });
    expect(young.removed).toEqual([]);

    await oldEnough(deadContainer, 1);
    const report = await reapOrphans({ docker, app: TEST_APP, olderThanMs: 1 });
    expect(report.removed.map((r) => r.containerId)).toEqual([deadContainer]);
    expect(report.failed).toEqual([]);
    const left = (await runContainers(docker)).map((c) => c.Id.slice(0, 12));
    expect(left).not.toContain(deadContainer);
    expect(left).toEqual(expect.arrayContaining([liveContainer, ownContainer]));

    // Even a callback that calls this process's parent dead cannot reap it.
    const own = await reapOrphans({
      docker,
      app: TEST_APP,
      olderThanMs: 1,
      isParentAlive: (parent) => parent.parentId !== parentId,
    });
    expect(own.removed.map((r) => r.containerId)).not.toContain(ownContainer);
    expect(await p.call(echo, "still here")).toBe("still here");
  });

  it("only ever considers its own app's containers", async () => {
    const dead = await parentProcess("dead");
    await dead.kill();
    const mine = await orphanContainer(dead.identity, "created");
    const theirs = await orphanContainer(dead.identity, "created", OTHER_APP);
    await oldEnough(theirs, 1);

    const report = await reapOrphans({ docker, app: TEST_APP, olderThanMs: 1 });
    expect(report.removed.map((r) => r.containerId)).toEqual([mine]);
    expect(report.kept).toBe(0);
    expect(await containerIds()).toEqual([theirs]);

    const other = await reapOrphans({ docker, app: OTHER_APP, olderThanMs: 1 });
    expect(other.removed.map((r) => r.containerId)).toEqual([theirs]);
  });

  it("never reaps a container still starting: olderThanMs defaults to a minute and must be > 0", async () => {
    const dead = await parentProcess("dead");
    await dead.kill();
    const fresh = await orphanContainer(dead.identity, "created");

    const report = await reapOrphans({ docker, app: TEST_APP, isParentAlive: () => false });
    expect(report).toMatchObject({ removed: [], kept: 1 });
    expect(await containerIds()).toEqual([fresh]);

    const error = await reapOrphans({ docker, app: TEST_APP, olderThanMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(isFlameError(error, "INVALID_OPTIONS")).toBe(true);
    expect((error as { field?: string }).field).toBe("olderThanMs");
  });

  it("keeps a container when isParentAlive throws or rejects (when in doubt, keep it)", async () => {
    const dead = await parentProcess("dead");
    await dead.kill();
    const orphan = await orphanContainer(dead.identity, "created");
    await oldEnough(orphan, 1);

    for (const isParentAlive of [
      () => {
        throw new Error("registry down");
      },
      () => Promise.reject(new Error("registry down")),
    ]) {
      const report = await reapOrphans({ docker, app: TEST_APP, olderThanMs: 1, isParentAlive });
      expect(report).toMatchObject({ removed: [], kept: 1 });
    }
    expect(await containerIds()).toEqual([orphan]);
  });

  async function containerIds(): Promise<string[]> {
    return (await runContainers(docker)).map((c) => c.Id.slice(0, 12));
  }

  /** Waits until the daemon's whole-second Created time puts `containerId` past `ageMs`. */
  async function oldEnough(containerId: string, ageMs: number): Promise<void> {
    const info = (await runContainers(docker)).find((c) => c.Id.startsWith(containerId));
    const createdSeconds = (info as Dockerode.ContainerInfo).Created;
    await expect
      .poll(() => Date.now() - (createdSeconds + 1) * 1000, {
        timeout: 5_000,
        message: `container ${containerId}'s age in ms`,
      })
      .toBeGreaterThanOrEqual(ageMs);
  }

  /** A real process on this host to stand for a parent; kill() makes it a dead one. */
  async function parentProcess(name: string) {
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 60000)"], {
      stdio: "ignore",
    });
    await new Promise((resolve) => child.once("spawn", resolve));
    const kill = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    };
    stopChildren.push(kill);
    const pid = child.pid ?? 0;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const identity: ParentIdentity = {
      ...currentParentIdentity(`${name}-${runTag}`),
      pid,
      startTicks: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]),
    };
    return { identity, kill };
  }

  /** A flame-ts-labelled container as a parent would have left it (not auto-removed). */
  async function orphanContainer(
    parent: ParentIdentity,
    state: "running" | "created",
    app = TEST_APP,
  ): Promise<string> {
    const container = await docker.createContainer({
      Image: TEST_IMAGE,
      Entrypoint: ["/usr/local/bin/node", "-e", "setInterval(() => {}, 60000)"],
      Labels: {
        ...runnerLabels(parent, {
          app,
          poolName: "orphans",
          runnerId: `orphan-${parent.parentId}`,
        }),
        [RUN_LABEL]: runTag,
      },
      HostConfig: { NetworkMode: "none", AutoRemove: false },
    });
    if (state === "running") await container.start();
    return container.id.slice(0, 12);
  }
});
