/**
 * CPU per call of the two processes of a link (the bench's parent and its peer or runner),
 * from Linux's per-thread run time in nanoseconds (/proc/<pid>/task/<tid>/schedstat; the
 * 10 ms utime/stime ticks threadCpuMs reads are too coarse for a short run). Where both cores
 * are busy, throughput follows the CPU a call costs in all threads together, so these say
 * what the thread hop adds whatever the machine's load.
 */
import { readdirSync, readFileSync } from "node:fs";
import { type LoadOptions, runClosedLoop } from "./measure.js";

export interface CpuPerCall {
  readonly parentUs: number;
  readonly peerUs: number;
}

/** Nanoseconds each live thread of `pid` has run so far, by thread id; an ended thread is gone. */
function threadRunTimesNs(pid: number): Map<number, number> {
  const byThread = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      byThread.set(Number(tid), ns);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byThread;
}

/** Nanoseconds all live threads of `pid` have run so far; a thread that ended is not counted. */
function processCpuNs(pid: number): number {
  let total = 0;
  for (const ns of threadRunTimesNs(pid).values()) total += ns;
  return total;
}

/**
 * The CPU a run took, by what each thread does: the caller's main thread, the peer's (the
 * runner's or the raw peer's; 0 without a peer), the worker threads that ran the tasks, and
 * every other thread (V8's GC helpers and compiler, libuv's). Where the pool's CPU per call
 * exceeds the floor's, this says on which side of the call it goes (issue 23). The unit is the
 * holder's: nanoseconds from `cpuByRoleSince`, µs per call from `cpuByRolePerCallUs`.
 */
export interface CpuByRole {
  readonly callerMain: number;
  readonly peerMain: number;
  readonly workers: number;
  readonly other: number;
}

/** Run times (ns by thread id) of the caller's and `peerPid`'s threads, for `cpuByRoleSince`. */
export interface ThreadRunTimes {
  readonly callerPid: number;
  readonly peerPid: number | null;
  readonly caller: Map<number, number>;
  readonly peer: Map<number, number>;
}

export function threadRunTimes(peerPid: number | null): ThreadRunTimes {
  return {
    callerPid: process.pid,
    peerPid,
    caller: threadRunTimesNs(process.pid),
    peer: peerPid === null ? new Map() : threadRunTimesNs(peerPid),
  };
}

/**
 * What each role ran since `before`, in nanoseconds. The workers are the `workerThreads`
 * threads other than the main ones that ran most, in either process: a task keeps its thread
 * far busier than any helper, and piscina's workers are the caller's own threads.
 */
export function cpuByRoleSince(before: ThreadRunTimes, workerThreads: number): CpuByRole {
  const now = threadRunTimes(before.peerPid);
  const ran = (was: Map<number, number>, is: Map<number, number>, tid: number): number =>
    (is.get(tid) ?? 0) - (was.get(tid) ?? 0);
  const callerMain = ran(before.caller, now.caller, before.callerPid);
  const peerMain = before.peerPid === null ? 0 : ran(before.peer, now.peer, before.peerPid);
  const others: number[] = [];
  for (const tid of now.caller.keys()) {
    if (tid !== before.callerPid) others.push(ran(before.caller, now.caller, tid));
  }
  for (const tid of now.peer.keys()) {
    if (tid !== before.peerPid) others.push(ran(before.peer, now.peer, tid));
  }
  others.sort((a, b) => b - a);
  const sum = (values: number[]): number => values.reduce((total, ns) => total + ns, 0);
  return {
    callerMain,
    peerMain,
    workers: sum(others.slice(0, workerThreads)),
    other: sum(others.slice(workerThreads)),
  };
}

/** Runs `load` once and returns the CPU µs per call used by this process and by `peerPid`. */
export async function measureCpuPerCall(
  peerPid: number,
  callOnce: () => Promise<unknown>,
  load: LoadOptions,
): Promise<CpuPerCall> {
  const parentBefore = processCpuNs(process.pid);
  const peerBefore = processCpuNs(peerPid);
  await runClosedLoop(callOnce, load);
  const perCallUs = (ns: number): number => ns / 1000 / load.calls;
  return {
    parentUs: perCallUs(processCpuNs(process.pid) - parentBefore),
    peerUs: perCallUs(processCpuNs(peerPid) - peerBefore),
  };
}

/** The roles of `CpuByRole` as the figures name them; `workers` names the worker threads. */
export function roleNames(workers: string): readonly (readonly [keyof CpuByRole, string])[] {
  return [
    ["callerMain", "the caller's main thread"],
    ["peerMain", "the runner's main thread"],
    ["workers", workers],
    ["other", "every other thread (V8's GC and compiler)"],
  ];
}

/**
 * Runs `load` once and returns what each role ran per call, in µs; the workers are the
 * `workerThreads` busiest threads besides the main ones (cpuByRoleSince).
 */
export async function cpuByRolePerCallUs(
  peerPid: number,
  callOnce: () => Promise<unknown>,
  load: LoadOptions,
  workerThreads: number,
): Promise<CpuByRole> {
  const before = threadRunTimes(peerPid);
  await runClosedLoop(callOnce, load);
  return usPer(cpuByRoleSince(before, workerThreads), load.calls);
}

/** `used` (ns, from cpuByRoleSince) as µs per one of `count` calls or tasks. */
export function usPer(used: CpuByRole, count: number): CpuByRole {
  const us = (ns: number): number => ns / 1000 / count;
  return {
    callerMain: us(used.callerMain),
    peerMain: us(used.peerMain),
    workers: us(used.workers),
    other: us(used.other),
  };
}
