/**
 * reapOrphans on the test cluster, for parents outside a cluster: it removes this app's pods
 * and Secrets whose parent is proven dead, and keeps everything it cannot judge.
 */
import { spawn } from "node:child_process";
import { currentParentIdentity, type ParentIdentity, parentId } from "@flame-ts/pool-core";
import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesBackend } from "../src/index.js";
import { runnerAnnotations, runnerLabels } from "../src/labels.js";
import {
  createNamespace,
  deleteNamespace,
  probeCluster,
  reportMissingCluster,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  waitFor,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s reaper");

/** The identity of a process that ran and is gone now: a parent proven dead. */
async function deadParent(): Promise<ParentIdentity> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  const self = currentParentIdentity(`dead-${runTag}`);
  const stat = await import("node:fs").then((fs) =>
    fs.readFileSync(`/proc/${child.pid}/stat`, "utf8"),
  );
  const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  return { ...self, pid: child.pid ?? 0, startTicks };
}

async function secretOf(
  core: CoreV1Api,
  namespace: string,
  parent: ParentIdentity,
  extra: object = {},
) {
  const scope = {
    app: TEST_APP,
    poolName: "reaped",
    runnerId: `r-${Math.random()}`,
    parentId: parent.parentId,
  };
  const created = await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        generateName: "reap-",
        labels: runnerLabels(scope),
        annotations: runnerAnnotations(scope, parent),
        ...extra,
      },
      stringData: { FLAME_PARENT: "x" },
    },
  });
  return created.metadata?.name ?? "";
}

describe.skipIf(skip)("KubernetesBackend.reapOrphans", () => {
  const { core, kubeConfig } = probe.ok ? probe : ({} as never);
  let namespace = "";

  beforeAll(async () => {
    namespace = await createNamespace(core, "reaper");
  }, 60_000);

  afterAll(async () => {
    await deleteNamespace(core, namespace);
  });

  it("removes what a dead parent left; keeps a live parent's, this process's, an owned one and a young one", async () => {
    const dead = await deadParent();
    const orphan = await secretOf(core, namespace, dead);
    const live = await secretOf(core, namespace, currentParentIdentity(`live-${runTag}`));
    const mine = await secretOf(core, namespace, currentParentIdentity(parentId));
    const owner = await core.readNamespace({ name: namespace });
    const owned = await secretOf(core, namespace, dead, {
      ownerReferences: [
        { apiVersion: "v1", kind: "Namespace", name: namespace, uid: owner.metadata?.uid ?? "" },
      ],
    });
    const backend = new KubernetesBackend({
      kubeConfig,
      namespace,
      image: TEST_IMAGE,
      app: TEST_APP,
      parentPod: null,
    });

    // Young: a boot may still be under way.
    expect((await backend.reapOrphans()).removed).toEqual([]);
    // Creation times are whole seconds of the server's clock: wait until they are past.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const report = await backend.reapOrphans({ olderThanMs: 1 });
    expect(report.removed.map((r) => r.name)).toEqual([orphan]);
    expect(report.failed).toEqual([]);
    const left = (
      await core.listNamespacedSecret({ namespace, labelSelector: `flame-ts.dev/app=${TEST_APP}` })
    ).items.map((s) => s.metadata?.name);
    expect(left.sort()).toEqual([live, mine, owned].sort());

    // A callback that throws keeps everything.
    const kept = await backend.reapOrphans({
      olderThanMs: 1,
      isParentAlive: () => {
        throw new Error("cannot tell");
      },
    });
    expect(kept.removed).toEqual([]);
    await waitFor(
      "the orphan to be gone",
      async () =>
        core.readNamespacedSecret({ name: orphan, namespace }).then(
          () => false,
          () => true,
        ),
      5_000,
    );
  }, 60_000);
});
