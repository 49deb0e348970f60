import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { parentId } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import {
  containerName,
  currentParentIdentity,
  parentFromLabels,
  runnerLabels,
} from "../src/labels.js";
import { isParentAliveOnThisHost } from "../src/parent-liveness.js";

describe("parent identity labels", () => {
  it("round-trip through container labels", () => {
    const me = currentParentIdentity(parentId);
    const labels = runnerLabels(me, "thumbs", "thumbs-abc");
    expect(labels["flame-ts.pool"]).toBe("thumbs");
    expect(parentFromLabels(labels)).toEqual(me);
    expect(parentFromLabels({ ...labels, "flame-ts.parent-pid": "nope" })).toBeNull();
  });

  it("make names Docker accepts", () => {
    expect(containerName("flame-", "my pool/1-ab")).toBe("flame-my-pool-1-ab");
    expect(containerName("", "_x")).toBe("r_x");
  });
});

describe("isParentAliveOnThisHost", () => {
  it("is true for this process and false once a parent process has exited", async () => {
    expect(isParentAliveOnThisHost(currentParentIdentity("me"))).toBe(true);

    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
      stdio: "ignore",
    });
    const pid = child.pid ?? 0;
    await new Promise((resolve) => child.once("spawn", resolve));
    const { processStartedMs } = await import("../src/parent-liveness.js");
    const startedMs = processStartedMs(pid) ?? Date.now();
    const identity = { parentId: "child", host: hostname(), pid, startedMs };
    try {
      expect(isParentAliveOnThisHost(identity)).toBe(true);
      // Same pid, different start time: a reused pid is not the parent.
      expect(isParentAliveOnThisHost({ ...identity, startedMs: startedMs - 3_600_000 })).toBe(
        process.platform !== "linux",
      );
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    expect(isParentAliveOnThisHost(identity)).toBe(false);
  });

  it("counts a parent on another host as alive (it cannot be judged from here)", () => {
    expect(
      isParentAliveOnThisHost({
        parentId: "x",
        host: `${hostname()}-elsewhere`,
        pid: 1,
        startedMs: 0,
      }),
    ).toBe(true);
  });
});
