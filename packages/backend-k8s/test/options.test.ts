/** KubernetesBackend options: every bad value names its field at construction. */
import { isFlameError } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import {
  KubernetesBackend,
  type KubernetesBackendOptions,
  kubernetesListenOptions,
} from "../src/index.js";
import { resolveKubernetesBackendOptions } from "../src/options.js";

function fieldOf(options: unknown, env: Record<string, string> = {}): string | undefined {
  try {
    resolveKubernetesBackendOptions(options as KubernetesBackendOptions, env);
  } catch (error) {
    if (isFlameError(error, "INVALID_OPTIONS")) return error.field;
    throw error;
  }
  return undefined;
}

describe("KubernetesBackend options", () => {
  it.each([
    [{ namespace: "Not_A_Namespace" }, "namespace"],
    [{ image: "" }, "image"],
    [{ kubeConfig: 42 }, "kubeConfig"],
    [{ podTemplate: [] }, "podTemplate"],
    [{ env: { FLAME_PARENT: "x" } }, "env.FLAME_PARENT"],
    [{ env: { "A=B": "x" } }, "env.A=B"],
    [{ env: { A: 1 } }, "env.A"],
    [{ labels: { "flame-ts.dev/pool": "x" } }, "labels.flame-ts.dev/pool"],
    [{ labels: { team: "not a label value" } }, "labels.team"],
    [{ annotations: { "flame-ts.dev/x": "y" } }, "annotations.flame-ts.dev/x"],
    [{ resources: { limits: { cpu: "one" } } }, "resources.limits.cpu"],
    [{ resources: { limits: { gpu: "1" } } }, "resources.limits.gpu"],
    [{ resources: { wants: {} } }, "resources.wants"],
    [{ serviceAccountName: "Bad Name" }, "serviceAccountName"],
    [{ automountServiceAccountToken: "yes" }, "automountServiceAccountToken"],
    [{ app: "-x" }, "app"],
    [{ namePrefix: "Flame_" }, "namePrefix"],
    [{ imagePullPolicy: "Sometimes" }, "imagePullPolicy"],
    [{ activeDeadlineSeconds: 0 }, "activeDeadlineSeconds"],
    [{ unschedulableTimeoutMs: -1 }, "unschedulableTimeoutMs"],
    [{ stopGracePeriodSeconds: 1.5 }, "stopGracePeriodSeconds"],
    [{ stopTimeoutMs: 0 }, "stopTimeoutMs"],
    [{ parentPod: { name: "UPPER" } }, "parentPod.name"],
  ])("%j is refused, naming %s", (options, field) => {
    expect(fieldOf(options)).toBe(field);
  });

  it("accepts quantities as Kubernetes writes them", () => {
    const resolved = resolveKubernetesBackendOptions(
      {
        image: "x",
        resources: {
          requests: { cpu: "250m", memory: "512Mi" },
          limits: { cpu: "1", memory: "1G" },
        },
      },
      {},
    );
    expect(resolved.resources).toEqual({
      requests: { cpu: "250m", memory: "512Mi" },
      limits: { cpu: "1", memory: "1G" },
    });
  });

  it("finds the parent pod from the downward API, and parentPod: null turns it off", () => {
    const env = { POD_NAME: "web-7d9f-abcde", POD_NAMESPACE: "shop", POD_CONTAINER: "app" };
    expect(resolveKubernetesBackendOptions({}, env).parentPod).toEqual({
      name: "web-7d9f-abcde",
      namespace: "shop",
      container: "app",
    });
    expect(
      resolveKubernetesBackendOptions({ parentPod: null, image: "x" }, env).parentPod,
    ).toBeNull();
    expect(fieldOf({}, { POD_NAME: "Bad Name" })).toBe("POD_NAME");
  });

  it("outside a cluster the image is required, and the error says so", () => {
    const saved = process.env.POD_NAME;
    delete process.env.POD_NAME;
    try {
      expect(() => new KubernetesBackend({})).toThrow(/image.*required outside a cluster/);
    } finally {
      if (saved !== undefined) process.env.POD_NAME = saved;
    }
  });

  it("kubernetesListenOptions listens on the pod IP only and advertises it", () => {
    expect(kubernetesListenOptions({ POD_IP: "10.1.2.3" })).toEqual({
      host: "10.1.2.3",
      port: 4370,
      advertiseUrl: "ws://10.1.2.3:4370",
    });
    expect(kubernetesListenOptions({ POD_IP: "fd00::5" }, 5000).advertiseUrl).toBe(
      "ws://[fd00::5]:5000",
    );
    expect(() => kubernetesListenOptions({})).toThrow(/POD_IP.*status\.podIP/);
    expect(() => kubernetesListenOptions({ POD_IP: "10.0.0.1", FLAME_LISTEN_PORT: "x" })).toThrow(
      /port/,
    );
  });
});
