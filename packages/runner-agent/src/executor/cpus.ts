/**
 * How many CPUs this runner may really use: the smaller of what Node sees and the cgroup CPU
 * quota. `os.availableParallelism()` reports the host's cores inside a container limited with
 * Docker `--cpus` (cgroup v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, cgroup v2 `cpu.max`), so
 * sizing threads by it alone would oversubscribe. A fractional quota rounds up (1.5 CPUs → 2
 * threads still gain over 1). Fly Machines are VMs: `guest.cpus` is what Node sees.
 *
 * No library reads both cgroup versions without pulling in a process manager, so this is
 * written by hand, as pure functions over file contents plus one thin reader.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

export type ReadFile = (path: string) => string | null;

const readOrNull: ReadFile = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
};

/** CPUs allowed by the cgroup quota (may be fractional), or null when unlimited/unknown. */
export function cgroupCpuQuota(read: ReadFile = readOrNull): number | null {
  const membership = read("/proc/self/cgroup") ?? "";
  let limit: number | null = null;
  const tighten = (cpus: number | null) => {
    if (cpus !== null && (limit === null || cpus < limit)) limit = cpus;
  };
  for (const line of membership.split("\n")) {
    const [, controllers = "", path = ""] = line.split(":");
    if (line.startsWith("0::")) {
      // cgroup v2: the process's group and each ancestor may carry a cpu.max.
      for (const dir of ancestors(path)) tighten(parseCpuMax(read(`/sys/fs/cgroup${dir}/cpu.max`)));
    } else if (controllers.split(",").includes("cpu")) {
      // cgroup v1: the container's own group is mounted at the root of the cpu hierarchy
      // (no cgroup namespace), so look there as well as under the path the kernel reports.
      for (const mount of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
        for (const dir of new Set([path, "/"])) {
          const base = `${mount}${dir === "/" ? "" : dir}`;
          tighten(parseCfs(read(`${base}/cpu.cfs_quota_us`), read(`${base}/cpu.cfs_period_us`)));
        }
      }
    }
  }
  return limit;
}

/** Threads worth running for CPU-bound work: at least 1. */
export function usableCpus(read: ReadFile = readOrNull, seen = availableParallelism()): number {
  const quota = cgroupCpuQuota(read);
  return Math.max(1, quota === null ? seen : Math.min(seen, Math.ceil(quota)));
}

/** cgroup v2 `cpu.max`: "max 100000" (unlimited) or "<quota> <period>". */
function parseCpuMax(content: string | null): number | null {
  if (content === null) return null;
  const [quota, period] = content.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return null;
  return ratio(Number(quota), Number(period ?? 100_000));
}

/** cgroup v1: quota -1 means unlimited. */
function parseCfs(quota: string | null, period: string | null): number | null {
  if (quota === null || period === null) return null;
  return ratio(Number(quota.trim()), Number(period.trim()));
}

function ratio(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) {
    return null;
  }
  return quota / period;
}

function ancestors(path: string): string[] {
  const parts = path.split("/").filter((p) => p.length > 0);
  const dirs = [""];
  for (let i = 1; i <= parts.length; i += 1) dirs.push(`/${parts.slice(0, i).join("/")}`);
  return dirs;
}
