/**
 * The backend's own network (network.ts) against a scripted Docker API: what it does when the
 * network exists, is someone else's, was created by another parent at the same moment, has a
 * gateway this process cannot listen on, or must be made again after a removal. The real
 * engine runs the same paths in safe-defaults.test.ts.
 */
import type Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { ManagedNetwork } from "../src/network.js";

type Info = {
  Id: string;
  Labels: Record<string, string>;
  IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
};

const OURS = { "flame-ts.managed": "true", "flame-ts.app": "app1" };
const LOOPBACK_PLAN = { Subnet: "127.0.0.0/8", Gateway: "127.0.0.1" };

/** A Docker API whose networks are a map; createNetwork records what it was asked. */
function fakeDocker(options: { existing?: Info; conflictWith?: Info } = {}) {
  let current: Info | undefined = options.existing;
  const created: Array<Record<string, unknown>> = [];
  const httpError = (statusCode: number, message: string) =>
    Object.assign(new Error(message), { statusCode, json: { message } });
  const docker = {
    getNetwork: () => ({
      inspect: async () => {
        if (current === undefined) throw httpError(404, "network app1 not found");
        return current;
      },
    }),
    createNetwork: async (spec: Record<string, unknown>) => {
      created.push(spec);
      if (options.conflictWith !== undefined) {
        current = options.conflictWith;
        throw httpError(409, "network with name flame-ts-app1 already exists");
      }
      const ipam = spec.IPAM as { Config: Info["IPAM"]["Config"] } | undefined;
      current = {
        Id: `net${created.length}`,
        Labels: spec.Labels as Record<string, string>,
        IPAM: { Config: ipam?.Config ?? [LOOPBACK_PLAN] },
      };
    },
    remove: () => {
      current = undefined;
    },
  };
  return { docker: docker as unknown as Dockerode, created, removeNetwork: docker.remove };
}

describe("ManagedNetwork", () => {
  it("creates flame-ts-<app> internal, without inter-container traffic, labelled, and answers its gateway", async () => {
    const { docker, created } = fakeDocker();
    const network = await new ManagedNetwork(docker, "app1", { team: "media" }).ensure();
    expect(network).toMatchObject({ name: "flame-ts-app1", gateway: "127.0.0.1" });
    expect(created).toEqual([
      expect.objectContaining({
        Name: "flame-ts-app1",
        Driver: "bridge",
        Internal: true,
        Labels: { team: "media", ...OURS },
        Options: { "com.docker.network.bridge.enable_icc": "false" },
      }),
    ]);
  });

  it("reuses the network another parent created at the same moment (409)", async () => {
    const theirs = { Id: "theirs", Labels: OURS, IPAM: { Config: [LOOPBACK_PLAN] } };
    const { docker } = fakeDocker({ conflictWith: theirs });
    expect((await new ManagedNetwork(docker, "app1", {}).ensure()).id).toBe("theirs");
  });

  it("refuses, for good, a network of that name that flame-ts did not create", async () => {
    const { docker } = fakeDocker({
      existing: { Id: "x", Labels: {}, IPAM: { Config: [LOOPBACK_PLAN] } },
    });
    await expect(new ManagedNetwork(docker, "app1", {}).ensure()).rejects.toMatchObject({
      code: "BOOT_FAILED",
      permanent: true,
      message: expect.stringMatching(/"flame-ts-app1" exists but flame-ts did not create it/),
    });
  });

  it("refuses, for good, a gateway this process cannot listen on (a remote daemon, a parent in a container)", async () => {
    // 203.0.113.1 (TEST-NET-3) is no address of this machine: binding it fails, nothing is sent.
    const remote = { Subnet: "203.0.113.0/24", Gateway: "203.0.113.1" };
    const { docker } = fakeDocker({
      existing: { Id: "x", Labels: OURS, IPAM: { Config: [remote] } },
    });
    await expect(new ManagedNetwork(docker, "app1", {}).ensure()).rejects.toMatchObject({
      code: "BOOT_FAILED",
      permanent: true,
      message: expect.stringMatching(/gateway 203\.0\.113\.1 .* is not an address of this machine/),
    });
  });

  it("makes the network again on the subnet and gateway it first had", async () => {
    const { docker, created, removeNetwork } = fakeDocker();
    const managed = new ManagedNetwork(docker, "app1", {});
    const first = await managed.ensure();
    removeNetwork();
    const again = await managed.recreate();
    expect(again.gateway).toBe(first.gateway);
    expect(created[1]).toMatchObject({
      IPAM: { Driver: "default", Config: [{ Subnet: "127.0.0.0/8", Gateway: "127.0.0.1" }] },
    });
  });
});
