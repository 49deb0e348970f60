/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks where the CPU time went; reads each
 * thread's CPU time from /proc.
 */
import { readdirSync, readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  /** `function (file:line)`, file shortened to the part after node_modules/ or the repo. */
  readonly where: string;
  readonly selfMs: number;
  /** Share of the profile's non-idle time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly idleMs: number;
  readonly top: readonly HotSpot[];
  /** Self time grouped by origin (GC, node internals, ws, pool-core, runner-agent, v8 codec…). */
  readonly byOrigin: readonly HotSpot[];
}

function shortFile(url: string): string {
  if (url === "") return "";
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("node_modules/");
  if (modules >= 0) return path.slice(modules + "node_modules/".length);
  const packages = path.indexOf("/packages/");
  if (packages >= 0) return path.slice(packages + 1);
  const bench = path.indexOf("/bench/");
  return bench >= 0 ? path.slice(bench + 1) : path;
}

function origin(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(program)") return "(program: native, unattributed)";
  if (url === "") return functionName === "" ? "(native)" : `native ${functionName}`;
  if (url.startsWith("node:")) {
    if (url === "node:v8") return "node:v8 (codec)";
    return url.startsWith("node:internal/") ? "node internals" : url;
  }
  if (url.includes("/node_modules/ws/")) return "ws";
  if (url.includes("pool-core/")) return `pool-core ${shortFile(url).split("/").slice(-2, -1)[0]}`;
  if (url.includes("runner-agent/")) return "runner-agent";
  if (url.includes("/node_modules/")) return shortFile(url).split("/")[0] ?? "other";
  return "bench/app";
}

export function summarize(profile: CpuProfile, topN = 25): ProfileSummary {
  const frameOf = new Map<number, CallFrame>();
  for (const node of profile.nodes) frameOf.set(node.id, node.callFrame);
  const selfUs = new Map<string, number>();
  const originUs = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frameOf.get(profile.samples[i]!);
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (!frame) continue;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const file = shortFile(frame.url);
    const where = `${frame.functionName || "(anonymous)"}${file ? ` (${file}:${frame.lineNumber + 1})` : ""}`;
    selfUs.set(where, (selfUs.get(where) ?? 0) + us);
    const group = origin(frame);
    originUs.set(group, (originUs.get(group) ?? 0) + us);
  }
  const rank = (entries: Map<string, number>, limit: number): HotSpot[] =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([where, us]) => ({ where, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    top: rank(selfUs, topN),
    byOrigin: rank(originUs, 20),
  };
}

export function formatSummary(title: string, summary: ProfileSummary): string {
  const lines = [
    `== ${title}: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle`,
    "-- by origin (self time)",
    ...summary.byOrigin.map(
      (h) =>
        `${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.where}`,
    ),
    "-- top functions (self time)",
    ...summary.top.map(
      (h) =>
        `${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.where}`,
    ),
  ];
  return lines.join("\n");
}

/**
 * CPU ms (user + system) each thread of process `pid` has used so far, from Linux's
 * /proc/<pid>/task/<tid>/stat (10 ms ticks), by thread id; empty where /proc is missing.
 * A profile's "busy" time is wall time outside the event loop's wait, so on a loaded machine
 * it also counts the time a thread sat runnable while another process had the core; these
 * counters are the CPU the thread really used, whatever the load.
 */
export function threadCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const msPerTick = 10;
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // Fields after the command's closing parenthesis: state is [0], utime [11], stime [12].
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * msPerTick);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU µs per call each thread used between two `threadCpuMs` readings (threads that used none left out). */
export function cpuPerCall(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
  calls: number,
): string {
  const parts: string[] = [];
  let totalMs = 0;
  // Thread ids ascend with creation: the main thread first, then the worker threads and helpers.
  for (const [tid, ms] of [...after].sort((a, b) => a[0] - b[0])) {
    const usedMs = ms - (before.get(tid) ?? 0);
    totalMs += usedMs;
    if (usedMs > 0) parts.push(`tid ${tid}: ${((usedMs * 1000) / calls).toFixed(1)}`);
  }
  if (after.size === 0) return "CPU per call: n/a (no /proc)";
  return `CPU per call (µs, /proc, 10 ms ticks): ${parts.join(" · ")} · process ${((totalMs * 1000) / calls).toFixed(1)}`;
}
