/**
 * The runner pod flame-ts builds, and what it reads from a pod's status: pure functions,
 * checked without a cluster (the cluster suites prove Kubernetes agrees).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { labelValue, podGenerateName, runnerLabels } from "../src/labels.js";
import { resolveKubernetesBackendOptions } from "../src/options.js";
import { podFacts } from "../src/pod-status.js";
import { basePod, mergePod, ownerReference, runnerPod } from "../src/pod-template.js";

const parentPod: V1Pod = {
  metadata: { name: "web-1", uid: "u-1", labels: { app: "web", "pod-template-hash": "abc" } },
  spec: {
    serviceAccountName: "web",
    hostNetwork: true,
    affinity: { podAntiAffinity: {} },
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
    containers: [
      {
        name: "app",
        image: "registry/web:7",
        args: ["--entry", "dist/functions.js", "--app", "dist/server.js"],
        env: [
          { name: "DATABASE_URL", value: "postgres://db" },
          { name: "FLAME_PARENT", value: "stale" },
        ],
        ports: [{ containerPort: 8080 }],
        readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
        livenessProbe: { httpGet: { path: "/live", port: 8080 } },
        volumeMounts: [{ name: "data", mountPath: "/data" }],
        lifecycle: { preStop: { exec: { command: ["sleep", "5"] } } },
      },
      { name: "sidecar", image: "proxy:1" },
    ],
  },
};

const facts = {
  generateName: "flame-thumbs-",
  namespace: "shop",
  labels: runnerLabels({ app: "default", poolName: "thumbs", runnerId: "r-1", parentId: "p-1" }),
  annotations: {},
  owner: ownerReference(parentPod),
  secretName: "flame-thumbs-x1",
};

describe("the runner pod", () => {
  it("takes the parent's image, command, env and service account, and none of its labels, probes, ports, volumes or sidecars", () => {
    const pod = runnerPod(basePod(parentPod, null), resolveKubernetesBackendOptions({}, {}), facts);
    const containers = pod.spec?.containers ?? [];
    expect(containers.map((c) => c.name)).toEqual(["runner"]);
    const runner = containers[0]!;
    expect(runner.image).toBe("registry/web:7");
    expect(runner.args).toEqual(["--entry", "dist/functions.js", "--app", "dist/server.js"]);
    expect(runner.env).toEqual([{ name: "DATABASE_URL", value: "postgres://db" }]);
    expect(runner.envFrom).toEqual([{ secretRef: { name: "flame-thumbs-x1" } }]);
    for (const key of ["ports", "readinessProbe", "livenessProbe", "volumeMounts", "lifecycle"]) {
      expect(runner).not.toHaveProperty(key);
    }
    expect(pod.spec?.volumes).toBeUndefined();
    expect(pod.spec?.affinity).toBeUndefined();
    expect(pod.spec?.serviceAccountName).toBe("web");
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.hostNetwork).toBe(true);
    expect(pod.spec?.restartPolicy).toBe("Never");
    // A Deployment selecting app=web must not see its runners.
    expect(pod.metadata?.labels?.app).toBeUndefined();
    expect(
      Object.keys(pod.metadata?.labels ?? {}).every((k) => k.startsWith("flame-ts.dev/")),
    ).toBe(true);
    expect(pod.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "v1",
        kind: "Pod",
        name: "web-1",
        uid: "u-1",
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    expect(pod.metadata?.generateName).toBe("flame-thumbs-");
  });

  it("never carries FLAME_PARENT as a literal: only a reference to the runner's Secret", () => {
    const pod = runnerPod(
      basePod(null, "img"),
      resolveKubernetesBackendOptions({ image: "img", env: { MODE: "runner" } }, {}),
      { ...facts, owner: null },
    );
    expect(JSON.stringify(pod)).not.toContain("FLAME_PARENT");
    expect(pod.spec?.containers[0]?.env).toEqual([{ name: "MODE", value: "runner" }]);
  });

  it("applies options, then the template (merged by container name), then its own fields", () => {
    const options = resolveKubernetesBackendOptions(
      {
        image: "img:1",
        resources: { limits: { cpu: "1" } },
        activeDeadlineSeconds: 600,
        podTemplate: {
          metadata: { labels: { team: "ml" } },
          spec: {
            restartPolicy: "Always",
            nodeSelector: { gpu: "yes" },
            containers: [{ name: "runner", env: [{ name: "X", value: "1" }] }],
          },
        },
      },
      {},
    );
    const pod = runnerPod(basePod(null, "img:1"), options, { ...facts, owner: null });
    expect(pod.spec?.restartPolicy).toBe("Never");
    expect(pod.spec?.nodeSelector).toEqual({ gpu: "yes" });
    expect(pod.spec?.activeDeadlineSeconds).toBe(600);
    expect(pod.spec?.containers[0]).toMatchObject({
      name: "runner",
      image: "img:1",
      resources: { limits: { cpu: "1" } },
      env: [{ name: "X", value: "1" }],
    });
    expect(pod.metadata?.labels?.team).toBe("ml");
  });

  it("a podTemplate function gets the pod and returns the one to create", () => {
    const options = resolveKubernetesBackendOptions(
      {
        image: "img",
        podTemplate: (base: V1Pod) => mergePod(base, { spec: { priorityClassName: "batch" } }),
      },
      {},
    );
    const pod = runnerPod(basePod(null, "img"), options, { ...facts, owner: null });
    expect(pod.spec?.priorityClassName).toBe("batch");
    expect(pod.spec?.containers[0]?.envFrom).toEqual([{ secretRef: { name: "flame-thumbs-x1" } }]);
  });

  it("names and labels stay valid whatever the pool and runner ids hold", () => {
    expect(podGenerateName("flame-", "Thumbs_Pool!")).toBe("flame-thumbs-pool-");
    expect(podGenerateName("", "x".repeat(200)).length).toBeLessThanOrEqual(58);
    expect(labelValue("-weird id/with:chars-")).toBe("weird-id-with-chars");
    expect(labelValue("y".repeat(100)).length).toBe(63);
  });
});

describe("what a pod's status says", () => {
  const pod = (status: NonNullable<V1Pod["status"]>): V1Pod => ({ status });
  const runner = (state: object) => ({
    name: "runner",
    image: "x",
    imageID: "",
    ready: false,
    restartCount: 0,
    state,
  });

  it("an image that cannot be pulled is final while the phase still says Pending", () => {
    for (const reason of [
      "ErrImageNeverPull",
      "ImagePullBackOff",
      "ErrImagePull",
      "InvalidImageName",
      "CreateContainerConfigError",
    ]) {
      const facts = podFacts(
        pod({
          phase: "Pending",
          containerStatuses: [runner({ waiting: { reason, message: `why ${reason}` } })],
        }),
      );
      expect(facts).toEqual({
        kind: "cannotStart",
        reason,
        message: `container "runner": why ${reason}`,
      });
    }
    expect(
      podFacts(
        pod({
          phase: "Pending",
          containerStatuses: [runner({ waiting: { reason: "ContainerCreating" } })],
        }),
      ).kind,
    ).toBe("pending");
  });

  it("the kubelet's own timeout is waited out, not taken for a broken spec", () => {
    const waiting = {
      reason: "CreateContainerConfigError",
      message: "failed to sync secret cache: timed out waiting for the condition",
    };
    expect(podFacts(pod({ phase: "Pending", containerStatuses: [runner({ waiting })] })).kind).toBe(
      "pending",
    );
  });

  it("unschedulable is reported with the scheduler's message", () => {
    const facts = podFacts(
      pod({
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/1 nodes have enough cpu",
          },
        ],
      }),
    );
    expect(facts).toEqual({ kind: "pending", unschedulable: "0/1 nodes have enough cpu" });
  });

  it("an ended container gives its exit code and reason (OOMKilled), an eviction the pod's reason", () => {
    expect(
      podFacts(
        pod({
          phase: "Failed",
          containerStatuses: [runner({ terminated: { exitCode: 137, reason: "OOMKilled" } })],
        }),
      ),
    ).toEqual({
      kind: "ended",
      code: 137,
      reason: "container OOMKilled, exit code 137",
    });
    expect(
      podFacts(
        pod({
          phase: "Failed",
          reason: "Evicted",
          message: "The node was low on resource: memory.",
        }),
      ),
    ).toEqual({
      kind: "ended",
      code: null,
      reason: "pod failed (Evicted: The node was low on resource: memory.)",
    });
    expect(
      podFacts(pod({ phase: "Running", containerStatuses: [runner({ running: {} })] })).kind,
    ).toBe("running");
  });
});
