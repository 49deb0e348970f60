/**
 * KubernetesBackend with the identity and place a real deployment gives it: a pool whose API
 * token is bound to exactly deploy/rbac.yaml's Role, the same Role with a verb missing, and the
 * parent itself running as a pod of the test image (single-image deploy): its runner pods
 * copy its container, are owned by it, and go with it when it is deleted.
 */
import { readFileSync } from "node:fs";
import { Pool } from "@flame-ts/pool-core";
import { KubeConfig, loadAllYaml, type V1Pod, type V1Role } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { echo } from "../../pool-core/src/testing/conformance-functions.mjs";
import { KubernetesBackend } from "../src/index.js";
import {
  CONFORMANCE_ENTRY,
  createNamespace,
  deleteNamespace,
  ensureTestImage,
  isRunning,
  leftovers,
  probeCluster,
  reportMissingCluster,
  runTag,
  TEST_APP,
  TEST_IMAGE,
  testBackendOptions,
  waitFor,
} from "./k8s-env.js";

const probe = await probeCluster();
const skip = reportMissingCluster(probe, "backend-k8s in-cluster");
const rbacYaml = readFileSync(new URL("../deploy/rbac.yaml", import.meta.url), "utf8");

describe.skipIf(skip)("KubernetesBackend with the minimal Role, and as a parent pod", () => {
  const { core, rbac, docker, kubeConfig } = probe.ok ? probe : ({} as never);
  let namespace = "";
  const pools: Pool[] = [];

  /** deploy/rbac.yaml applied as it is, with the Role's rules changed by `edit` if given. */
  async function serviceAccountFromReadme(
    name: string,
    edit?: (role: V1Role) => V1Role,
  ): Promise<string> {
    for (const doc of loadAllYaml(rbacYaml)) {
      const body = structuredClone(doc);
      body.metadata.name = name;
      if (body.kind === "ServiceAccount")
        await core.createNamespacedServiceAccount({ namespace, body });
      if (body.kind === "Role")
        await rbac.createNamespacedRole({ namespace, body: edit ? edit(body) : body });
      if (body.kind === "RoleBinding") {
        body.roleRef.name = name;
        body.subjects[0].name = name;
        await rbac.createNamespacedRoleBinding({ namespace, body });
      }
    }
    return name;
  }

  /** A kubeconfig that acts as the service account: its token, the cluster's CA and address. */
  async function kubeConfigAs(serviceAccount: string): Promise<KubeConfig> {
    let token = "";
    await waitFor(
      `a token for ${serviceAccount}`,
      async () => {
        const secrets = await core.listNamespacedSecret({ namespace });
        const secret = secrets.items.find(
          (s) =>
            s.type === "kubernetes.io/service-account-token" &&
            s.metadata?.annotations?.["kubernetes.io/service-account.name"] === serviceAccount,
        );
        token = Buffer.from(secret?.data?.token ?? "", "base64").toString();
        return token !== "";
      },
      30_000,
    );
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error("no cluster in the admin kubeconfig");
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [cluster],
      users: [{ name: serviceAccount, token }],
      contexts: [{ name: "sa", cluster: cluster.name, user: serviceAccount, namespace }],
      currentContext: "sa",
    });
    return config;
  }

  function pool(asUser: KubeConfig): Pool {
    const p = new Pool({
      name: `rbac-${runTag}`,
      max: 1,
      bootTimeout: 60_000,
      shutdownTimeout: 5_000,
      backend: new KubernetesBackend(testBackendOptions(asUser, namespace)),
    });
    pools.push(p);
    return p;
  }

  beforeAll(async () => {
    await ensureTestImage(docker);
    namespace = await createNamespace(core, "rbac");
  }, 240_000);

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.stop().catch(() => {})));
  }, 60_000);

  afterAll(async () => {
    await waitFor(
      "the run's pods and Secrets to be gone",
      async () => (await leftovers(core, namespace)).length === 0,
      60_000,
    );
    await deleteNamespace(core, namespace);
  }, 90_000);

  it("a token bound to exactly the README's Role runs the pool, and stop() leaves nothing", async () => {
    const p = pool(await kubeConfigAs(await serviceAccountFromReadme("flame-parent")));
    expect(await p.call(echo, "with the minimal Role")).toBe("with the minimal Role");
    await p.stop();
    await waitFor(
      "nothing left",
      async () => (await leftovers(core, namespace)).length === 0,
      20_000,
    );
  }, 120_000);

  it.each([
    ["create", "pods", /cannot create resource "pods"/],
    ["watch", "pods", /cannot watch pods/],
    ["create", "secrets", /cannot create resource "secrets"/],
    ["patch", "secrets", /cannot patch resource "secrets"/],
  ])(
    "without %s on %s the boot fails at once, naming the verb",
    async (verb, resource, message) => {
      const name = await serviceAccountFromReadme(`flame-no-${verb}-${resource}`, (role) => ({
        ...role,
        rules: (role.rules ?? []).map((rule) =>
          rule.resources?.includes(resource)
            ? { ...rule, verbs: rule.verbs.filter((v) => v !== verb) }
            : rule,
        ),
      }));
      const p = pool(await kubeConfigAs(name));
      await expect(p.call(echo, 1, { timeout: 300_000 })).rejects.toMatchObject({
        code: "BOOT_FAILED",
        message: expect.stringMatching(message),
      });
    },
    60_000,
  );

  it("a parent pod's runners copy its container, are owned by it, and are gone with it", async () => {
    await serviceAccountFromReadme("flame-app");
    const parent: V1Pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: `parent-${runTag}`, labels: { app: "web" } },
        spec: {
          serviceAccountName: "flame-app",
          hostNetwork: true,
          restartPolicy: "Never",
          containers: [
            {
              name: "app",
              image: TEST_IMAGE,
              imagePullPolicy: "Never",
              args: ["--entry", CONFORMANCE_ENTRY, "--app", "/app/fixtures/k8s-parent.mjs"],
              readinessProbe: { exec: { command: ["/usr/local/bin/node", "-e", "0"] } },
              env: [
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                {
                  name: "POD_NAMESPACE",
                  valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
                },
                // No kube-proxy in the test cluster: the API server's own address, not its Service.
                { name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1" },
                { name: "KUBERNETES_SERVICE_PORT", value: "6443" },
                { name: "FLAME_TEST_APP", value: TEST_APP },
              ],
            },
          ],
        },
      },
    });
    const parentName = parent.metadata?.name ?? "";
    let log = "";
    await waitFor(
      "the parent app to boot its runners and call them",
      async () => {
        log = await core
          .readNamespacedPodLog({ name: parentName, namespace, container: "app" })
          .catch(() => "");
        return /flame-parent: (ready|failed)/.test(log);
      },
      90_000,
      250,
    );
    expect(log).toMatch(/flame-parent: ready .*"answers":4/);

    // This parent's runners: the earlier tests' pods may still be on their way out.
    const runners = (
      await core.listNamespacedPod({ namespace, labelSelector: `flame-ts.dev/app=${TEST_APP}` })
    ).items.filter((pod) => pod.metadata?.ownerReferences?.[0]?.uid === parent.metadata?.uid);
    expect(runners).toHaveLength(2);
    for (const runner of runners) {
      expect(isRunning(runner)).toBe(true);
      expect(runner.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: "Pod",
        name: parentName,
        uid: parent.metadata?.uid,
      });
      expect(runner.metadata?.labels?.app).toBeUndefined();
      const container = runner.spec?.containers[0];
      expect(container?.image).toBe(TEST_IMAGE);
      expect(container?.args).toEqual([
        "--entry",
        CONFORMANCE_ENTRY,
        "--app",
        "/app/fixtures/k8s-parent.mjs",
      ]);
      expect(container?.readinessProbe).toBeUndefined();
      expect(runner.spec?.serviceAccountName).toBe("flame-app");
    }

    const deletedAtMs = Date.now();
    await core.deleteNamespacedPod({ name: parentName, namespace, gracePeriodSeconds: 0 });
    await waitFor(
      "the garbage collector to remove the runners",
      async () => (await leftovers(core, namespace)).length === 0,
      120_000,
      250,
    );
    console.log(
      `[in-cluster] runners of a deleted parent gone after ${Date.now() - deletedAtMs} ms`,
    );
  }, 300_000);
});
