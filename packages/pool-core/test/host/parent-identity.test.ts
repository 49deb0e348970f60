/**
 * Parent identity and liveness on this host: boot id, pid namespace and start ticks, never a
 * host name or a wall-clock time. Dead only when provable; every doubt counts as alive.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  currentParentIdentity,
  isParentAliveOnThisHost,
  judgeParent,
  type ParentIdentity,
} from "../../src/parent-identity.js";

const linux = process.platform === "linux";

async function childProcess() {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  const pid = child.pid ?? 0;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  const me = currentParentIdentity("me");
  const identity: ParentIdentity = { ...me, parentId: "child", pid, startTicks };
  return {
    identity,
    kill: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

describe.skipIf(!linux)("parent identity on Linux", () => {
  it("names this process by boot id, pid namespace and start ticks", () => {
    const me = currentParentIdentity("me");
    expect(me.bootId).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
    expect(`pid:[${me.pidNamespace}]`).toBe(readlinkSync("/proc/self/ns/pid"));
    expect(me.pid).toBe(process.pid);
    expect(me.startTicks).toEqual(expect.any(Number));
    expect(me.host).toBe(hostname());
    expect(judgeParent(me)).toEqual({ alive: true, why: expect.stringMatching(/is the parent/) });
  });

  it("is alive while the parent runs, dead once it exits or its pid is reused", async () => {
    const child = await childProcess();
    try {
      expect(isParentAliveOnThisHost(child.identity)).toBe(true);
      // Same pid, another start tick: a process that reused the pid is not the parent.
      const reused = { ...child.identity, startTicks: (child.identity.startTicks ?? 0) + 1 };
      expect(judgeParent(reused)).toEqual({
        alive: false,
        why: expect.stringMatching(/another process/),
      });
    } finally {
      await child.kill();
    }
    expect(judgeParent(child.identity)).toEqual({
      alive: false,
      why: expect.stringMatching(/gone/),
    });
  });

  it("cannot judge (keeps) a parent in another pid namespace, on another machine or boot, or without /proc", async () => {
    const child = await childProcess();
    await child.kill();
    const dead = child.identity;
    expect(isParentAliveOnThisHost(dead)).toBe(false);
    // The same pid in another namespace is another process: nothing here says it is gone.
    expect(isParentAliveOnThisHost({ ...dead, pidNamespace: "1" })).toBe(true);
    expect(
      isParentAliveOnThisHost({ ...dead, bootId: "00000000-0000-0000-0000-000000000000" }),
    ).toBe(true);
    expect(isParentAliveOnThisHost({ ...dead, bootId: null, pidNamespace: null })).toBe(true);
    expect(isParentAliveOnThisHost({ ...dead, startTicks: null })).toBe(true);
    // A host name of its own decides nothing either way.
    expect(isParentAliveOnThisHost({ ...dead, host: `${hostname()}-elsewhere` })).toBe(false);
  });

  it("gives the same verdict after the wall clock steps (nothing read depends on it)", async () => {
    // A copy of the /proc entries the module reads; then the clock "steps" by an hour, which
    // is what the kernel's /proc/stat btime shows after an NTP step or a VM resume.
    const proc = mkdtempSync(join(tmpdir(), "flame-ts-proc-"));
    try {
      const child = await childProcess();
      const copyProc = (btimeShiftSeconds: number) => {
        mkdirSync(join(proc, "sys/kernel/random"), { recursive: true });
        cpSync("/proc/sys/kernel/random/boot_id", join(proc, "sys/kernel/random/boot_id"));
        for (const pid of ["self", String(child.identity.pid)]) {
          const real = pid === "self" ? String(process.pid) : pid;
          mkdirSync(join(proc, pid, "ns"), { recursive: true });
          writeFileSync(join(proc, pid, "stat"), readFileSync(`/proc/${real}/stat`));
          rmSync(join(proc, pid, "ns/pid"), { force: true });
          symlinkSync(readlinkSync(`/proc/${real}/ns/pid`), join(proc, pid, "ns/pid"));
        }
        const stat = readFileSync("/proc/stat", "utf8").replace(
          /^btime (\d+)$/m,
          (_line, btime: string) => `btime ${Number(btime) + btimeShiftSeconds}`,
        );
        writeFileSync(join(proc, "stat"), stat);
      };
      try {
        // Labelled before the step, judged after it.
        const labelled = child.identity;
        copyProc(3_600);
        expect(judgeParent(labelled, { procRoot: proc }).alive).toBe(true);
        copyProc(-3_600);
        expect(judgeParent(labelled, { procRoot: proc }).alive).toBe(true);
      } finally {
        await child.kill();
      }
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
