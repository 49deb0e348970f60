import { isFlameError } from "@flame-ts/pool-core";
import { describe, expect, it, vi } from "vitest";
import { machineName } from "../src/fly-backend.js";
import { FlyBackend } from "../src/index.js";
import { flyListenOptions } from "../src/listen.js";
import { resolveFlyOptions } from "../src/options.js";
import { ActionPacer } from "../src/rate-limit.js";
import { backoffDelayMs, parseRetryAfterMs } from "../src/retry.js";

const FLY_ENV = {
  FLY_APP_NAME: "my-app",
  FLY_IMAGE_REF: "registry.fly.io/my-app:deployment-01H",
  FLY_API_TOKEN: "secret",
  FLY_REGION: "ord",
  FLY_MACHINE_ID: "148ed123456789",
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("FlyBackend options", () => {
  it("takes its defaults from the Fly runtime environment, like FLAME", () => {
    const o = resolveFlyOptions({ processEnv: FLY_ENV });
    expect(o).toMatchObject({
      app: "my-app",
      image: "registry.fly.io/my-app:deployment-01H",
      token: "secret",
      region: "ord",
      apiUrl: "https://api.machines.dev",
      guest: {
        cpuKind: "performance",
        cpus: 1,
        memoryMb: 4096,
        gpuKind: undefined,
        gpus: undefined,
      },
      namePrefix: "flame",
      parentMachineId: "148ed123456789",
    });
  });

  it.each([
    ["token", "FLY_API_TOKEN"],
    ["app", "FLY_APP_NAME"],
    ["image", "FLY_IMAGE_REF"],
  ])("missing %s → INVALID_OPTIONS naming it and %s", (field, envVar) => {
    const env: Record<string, string> = { ...FLY_ENV };
    delete env[envVar];
    const error = thrown(() => new FlyBackend({ processEnv: env }));
    expect(isFlameError(error, "INVALID_OPTIONS")).toBe(true);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toContain(envVar);
  });

  it("options win over the environment and map to Fly's guest fields", () => {
    const backend = new FlyBackend({
      processEnv: FLY_ENV,
      app: "other",
      region: "syd",
      guest: { cpuKind: "shared", cpus: 2, memoryMb: 1024, gpuKind: "a100-pcie-40gb", gpus: 1 },
      init: { cmd: ["node", "runner.js"] },
    });
    const body = backend.createRequest({
      runnerId: "Thumbs_42/x",
      poolName: "thumbs",
      parentId: "p1",
      env: { FLAME_PARENT: "x" },
    });
    expect(body).toMatchObject({
      name: "flame-thumbs-42-x",
      region: "syd",
      config: {
        guest: {
          cpu_kind: "shared",
          cpus: 2,
          memory_mb: 1024,
          gpu_kind: "a100-pcie-40gb",
          gpus: 1,
        },
        init: { cmd: ["node", "runner.js"] },
        metadata: { flame_parent_machine: "148ed123456789" },
      },
    });
  });

  it("records the parent's own app and version, and a warm pool turns auto_destroy off", () => {
    const env = { ...FLY_ENV, FLY_APP_NAME: "web", FLY_MACHINE_VERSION: "01HV0VERSION" };
    const req = { runnerId: "r1", poolName: "thumbs", parentId: "p1", env: {} };
    const cold = new FlyBackend({ processEnv: env, app: "web-runners" }).createRequest(req);
    expect(cold.config.auto_destroy).toBe(true);
    expect(cold.config.metadata).toMatchObject({
      flame_parent_app: "web",
      flame_parent_instance: "01HV0VERSION",
    });
    expect(cold.config.metadata?.flame_warm).toBeUndefined();
    const warm = new FlyBackend({ processEnv: env, warm: { stopped: 2 } }).createRequest(req);
    expect(warm.config.auto_destroy).toBe(false);
    expect(warm.config.metadata?.flame_warm).toBe("stopped");
  });

  it.each([
    [{ guest: { memoryMb: 1000 } }, "guest.memoryMb"],
    [{ guest: { cpus: 0 } }, "guest.cpus"],
    [{ apiUrl: "ftp://x" }, "apiUrl"],
    [{ env: { A: 1 } }, "env.A"],
    [{ metadata: { flame_pool: "x" } }, "metadata.flame_pool"],
    [{ namePrefix: "Bad Prefix" }, "namePrefix"],
    [{ warm: { stopped: -1 } }, "warm.stopped"],
    [{ warm: { stopped: 1.5 } }, "warm.stopped"],
    [{ warm: { suspended: 2 } }, "warm.suspended"],
    [{ warm: { stoped: 2 } }, "warm.stoped"],
    [{ warm: 3 }, "warm"],
  ])("rejects %j naming %s", (options, field) => {
    const error = thrown(() => resolveFlyOptions({ processEnv: FLY_ENV, ...(options as object) }));
    expect(error).toMatchObject({ code: "INVALID_OPTIONS", field });
  });
});

describe("flyListenOptions", () => {
  it("binds the 6PN address only (not ::) and advertises it in brackets", () => {
    expect(flyListenOptions({ FLY_PRIVATE_IP: "fdaa:0:1:a7b:195:e229:8038:2" })).toEqual({
      host: "fdaa:0:1:a7b:195:e229:8038:2",
      port: 4370,
      advertiseUrl: "ws://[fdaa:0:1:a7b:195:e229:8038:2]:4370",
    });
    expect(
      flyListenOptions({ FLY_PRIVATE_IP: "fdaa::2", FLAME_LISTEN_PORT: "9000" }).advertiseUrl,
    ).toBe("ws://[fdaa::2]:9000");
  });

  it("outside Fly it says what is missing", () => {
    expect(thrown(() => flyListenOptions({}))).toMatchObject({
      code: "INVALID_OPTIONS",
      field: "FLY_PRIVATE_IP",
    });
  });
});

describe("pacing and backoff", () => {
  it("allows a burst of 3 per action and key; past it, waits for the answers, then one per second", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      let nowMs = 0;
      const pacer = new ActionPacer(() => nowMs);
      const limit = { perSecond: 1, burst: 3 };
      const burst = await Promise.all([1, 2, 3].map(() => pacer.acquire("create:app", limit)));
      let fourth: (() => void) | undefined;
      void pacer.acquire("create:app", limit).then((answered) => {
        fourth = answered;
      });
      expect(await pacer.acquire("stop:m1", limit)).toBeTypeOf("function"); // another key
      // Three unanswered: Fly may not have counted them yet, however long ago they left.
      nowMs = 10_000;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(fourth).toBeUndefined();
      // Answered at 10 s, so counted by 10 s at the latest: the fourth may arrive 1 s later.
      for (const answered of burst) answered();
      await vi.advanceTimersByTimeAsync(0);
      expect(fourth).toBeUndefined();
      nowMs = 10_999;
      await vi.advanceTimersByTimeAsync(999);
      expect(fourth).toBeUndefined();
      nowMs = 11_000;
      await vi.advanceTimersByTimeAsync(1);
      expect(fourth).toBeTypeOf("function");
      // A request aborted while it waits for its turn never leaves.
      const controller = new AbortController();
      const fifth = pacer.acquire("create:app", limit, controller.signal);
      controller.abort();
      await expect(fifth).rejects.toMatchObject({ name: "AbortError" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("backs off exponentially with jitter, capped, never below Retry-After", () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelayMs(1, policy, 0)).toBe(50);
    expect(backoffDelayMs(1, policy, 0.999)).toBeLessThanOrEqual(100);
    expect(backoffDelayMs(3, policy, 0)).toBe(200);
    expect(backoffDelayMs(20, policy, 0.999)).toBeLessThanOrEqual(1_000);
    expect(backoffDelayMs(1, policy, 0, 2_000)).toBe(2_000);
    expect(parseRetryAfterMs("2", 0)).toBe(2_000);
    expect(parseRetryAfterMs(null, 0)).toBeUndefined();
    expect(parseRetryAfterMs(new Date(5_000).toUTCString(), 0)).toBe(5_000);
  });

  it("machine names are lowercase, dash-separated and bounded", () => {
    expect(machineName("flame", "Pool.Name-abc123")).toBe("flame-pool-name-abc123");
    expect(machineName("flame", "x".repeat(100)).length).toBeLessThanOrEqual(63);
  });
});
