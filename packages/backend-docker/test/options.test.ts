import { isFlameError } from "@flame-ts/pool-core";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerBackend, type DockerBackendOptions } from "../src/index.js";

function fieldOf(options: unknown): string | undefined {
  try {
    new DockerBackend(options as DockerBackendOptions);
  } catch (error) {
    if (isFlameError(error, "INVALID_OPTIONS")) return error.field;
    throw error;
  }
  return undefined;
}

describe("DockerBackend options", () => {
  it.each([
    [{}, "image"],
    [{ image: " " }, "image"],
    [{ image: "x", network: "" }, "network"],
    [{ image: "x", memoryMb: 2 }, "memoryMb"],
    [{ image: "x", memoryMb: 64.5 }, "memoryMb"],
    [{ image: "x", cpus: 0 }, "cpus"],
    [{ image: "x", cpus: Number.NaN }, "cpus"],
    [{ image: "x", cpus: 0.001 }, "cpus"],
    [{ image: "x", memoryMb: "512" }, "memoryMb"],
    [{ image: "x", pidsLimit: 8 }, "pidsLimit"],
    [{ image: "x", pidsLimit: 100.5 }, "pidsLimit"],
    [{ image: "x", pidsLimit: -1 }, "pidsLimit"],
    [{ image: "x", capAdd: "NET_ADMIN" }, "capAdd"],
    [{ image: "x", capAdd: ["NET_BIND_SERVICE", "ALL"] }, "capAdd[1]"],
    [{ image: "x", capAdd: ["net admin"] }, "capAdd[0]"],
    [{ image: "x", user: "" }, "user"],
    [{ image: "x", user: "a b" }, "user"],
    [{ image: "x", user: 1000 }, "user"],
    [{ image: "x", app: "" }, "app"],
    [{ image: "x", app: "-app" }, "app"],
    [{ image: "x", app: "a=b" }, "app"],
    [{ image: "x", app: "a".repeat(64) }, "app"],
    [{ image: "x", env: { A: 1 } }, "env.A"],
    [{ image: "x", env: { FLAME_PARENT: "x" } }, "env.FLAME_PARENT"],
    [{ image: "x", labels: { "flame-ts.pool": "p" } }, "labels.flame-ts.pool"],
    [{ image: "x", labels: [] }, "labels"],
    [{ image: "x", namePrefix: "-bad" }, "namePrefix"],
    [{ image: "x", namePrefix: "a/b" }, "namePrefix"],
    [{ image: "x", pull: "sometimes" }, "pull"],
    [{ image: "x", autoRemove: "yes" }, "autoRemove"],
    [{ image: "x", docker: 42 }, "docker"],
    [{ image: "x", docker: { socketPath: "" } }, "docker.socketPath"],
    [{ image: "x", docker: { host: "127.0.0.1", port: 70000 } }, "docker.port"],
    [{ image: "x", docker: { nothing: true } }, "docker"],
  ])("rejects %j naming `%s`", (options, field) => {
    expect(fieldOf(options)).toBe(field);
  });

  it("accepts a full set of valid options and the three ways to reach Docker", () => {
    const base = {
      image: "flame-ts/runner:1",
      network: "host",
      memoryMb: 256,
      cpus: 0.5,
      env: { LOG_LEVEL: "debug" },
      labels: { team: "media" },
      namePrefix: "thumbs-",
      pull: "missing",
      autoRemove: false,
      pidsLimit: 64,
      capAdd: ["NET_BIND_SERVICE", "CAP_CHOWN"],
      app: "media.thumbs-1",
      user: "1000:1000",
    } as const;
    const own = new Dockerode({ socketPath: "/tmp/nowhere.sock" });
    expect(new DockerBackend({ ...base, docker: own }).docker).toBe(own);
    expect(fieldOf({ ...base, docker: { socketPath: "/var/run/docker.sock" } })).toBeUndefined();
    expect(fieldOf({ ...base, docker: { host: "127.0.0.1", port: 2375 } })).toBeUndefined();
    expect(new DockerBackend({ image: "x" }).name).toBe("docker");
    // null lifts a limit.
    expect(fieldOf({ image: "x", memoryMb: null, cpus: null, pidsLimit: null })).toBeUndefined();
    // null: the image's own USER.
    expect(fieldOf({ image: "x", user: null })).toBeUndefined();
  });

  it('asks the pool to listen on its own network\'s gateway, and nowhere special with network: "host" or a network the user named', async () => {
    // No daemon needed: neither answer touches Docker.
    const offline = { socketPath: "/tmp/nowhere.sock" };
    await expect(
      new DockerBackend({ image: "x", network: "host", docker: offline }).listenHost(),
    ).resolves.toBeNull();
    await expect(
      new DockerBackend({ image: "x", network: "my-bridge", docker: offline }).listenHost(),
    ).resolves.toBeNull();
    // The default network needs the daemon: an unreachable one is a (retried) boot failure.
    await expect(
      new DockerBackend({ image: "x", docker: offline }).listenHost(),
    ).rejects.toMatchObject({
      code: "BOOT_FAILED",
      message: expect.stringMatching(/unreachable at \/tmp\/nowhere\.sock.*"flame-ts-default"/),
    });
  });

  it("says which field is wrong and what it expects", () => {
    expect(() => new DockerBackend({ image: "x", pull: "sometimes" as never })).toThrow(
      /`pull`: expected "never", "missing" or "always", got "sometimes"/,
    );
  });
});
