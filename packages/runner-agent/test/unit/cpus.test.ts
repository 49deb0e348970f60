/** Thread sizing from the cgroup CPU quota, on cgroup v1 and v2 file layouts. */
import { describe, expect, it } from "vitest";
import { cgroupCpuQuota, type ReadFile, usableCpus } from "../../src/executor/cpus.js";

function files(map: Record<string, string>): ReadFile {
  return (path) => map[path] ?? null;
}

describe("CPUs a runner may use", () => {
  it("cgroup v1 (Docker --cpus 1 on this engine): the quota wins over the host's cores", () => {
    const read = files({
      "/proc/self/cgroup": "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n",
      "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "100000\n",
      "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    });
    expect(cgroupCpuQuota(read)).toBe(1);
    expect(usableCpus(read, 2)).toBe(1);
  });

  it("cgroup v1 unlimited (-1) leaves what Node sees", () => {
    const read = files({
      "/proc/self/cgroup": "1:cpu:/\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
    });
    expect(cgroupCpuQuota(read)).toBe(null);
    expect(usableCpus(read, 8)).toBe(8);
  });

  it("cgroup v2: cpu.max of the group or any ancestor; a fraction rounds up", () => {
    const read = files({
      "/proc/self/cgroup": "0::/system.slice/app.service\n",
      "/sys/fs/cgroup/cpu.max": "max 100000\n",
      "/sys/fs/cgroup/system.slice/cpu.max": "250000 100000\n",
      "/sys/fs/cgroup/system.slice/app.service/cpu.max": "150000 100000\n",
    });
    expect(cgroupCpuQuota(read)).toBe(1.5);
    expect(usableCpus(read, 16)).toBe(2);
  });

  it("cgroup v2 with no limit, or no cgroup files at all, leaves what Node sees (at least 1)", () => {
    expect(
      usableCpus(
        files({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "max 100000" }),
        4,
      ),
    ).toBe(4);
    expect(usableCpus(files({}), 3)).toBe(3);
    expect(usableCpus(files({}), 0)).toBe(1);
  });

  it("never more threads than the host's cores, whatever the quota says", () => {
    const read = files({
      "/proc/self/cgroup": "0::/\n",
      "/sys/fs/cgroup/cpu.max": "800000 100000",
    });
    expect(usableCpus(read, 2)).toBe(2);
  });
});
