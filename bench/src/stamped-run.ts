/**
 * One side's run of the CPU-bound bench (benches/cpu-bound.ts): closed-loop callers send the
 * stamped task (fixtures/stamped-work.mjs), and the run reports throughput, how long each
 * thread sat idle between two of its tasks, and the CPU every thread of both processes took
 * (cpu-per-call.ts), so a gap between two sides says where it goes.
 */
import type { WorkStamp } from "../fixtures/stamped-work.mjs";
import { type CpuByRole, cpuByRoleSince, threadRunTimes, usPer } from "./cpu-per-call.js";

/** 4 callers keep 2 threads busy with one task waiting behind each. */
const CALLERS = 4;
/** Threads each side computes on (the 1-thread sides' split by thread is read by no figure). */
const WORKER_THREADS = 2;

export interface StampedRun {
  readonly tasksPerSecond: number;
  /**
   * CPU µs per task of every thread of this process and of the peer process (the runner or the
   * raw peer; none for piscina, whose threads are this process's): tasks and all the rest. With
   * both cores busy, throughput follows it (cpu-per-call.ts).
   */
  readonly cpuPerTaskUs: number;
  /**
   * Of it, the main threads' (this process's and the peer's): the caller's and the runner's
   * side of each call, apart from the tasks on the worker threads.
   */
  readonly mainThreadsPerTaskUs: number;
  /** All of it by what each thread does (µs per task; cpu-per-call.ts). */
  readonly byRolePerTaskUs: CpuByRole;
  /** Cores those threads kept busy on average while measured (2 = the whole machine). */
  readonly coresBusy: number;
  /** Every gap between one task's end and the next task's start on the same thread. */
  readonly idleGapsMs: number[];
  /** How long each task ran, inside the task (the "~N ms" is its calibrated target). */
  readonly taskMs: number[];
}

/** One side of a comparison: how to call it, and its other process (null: none, piscina). */
export interface Side {
  readonly callOnce: () => Promise<WorkStamp>;
  readonly peerPid: number | null;
}

/**
 * `calls` tasks from `callers` closed-loop callers; throughput, the threads' idle gaps and the
 * CPU it took this process and the side's other process.
 */
export async function runStamped(
  { callOnce, peerPid }: Side,
  calls: number,
  callers = CALLERS,
): Promise<StampedRun> {
  const stamps: WorkStamp[] = [];
  let next = 0;
  const caller = async (): Promise<void> => {
    while (next < calls) {
      next += 1;
      stamps.push(await callOnce());
    }
  };
  const before = threadRunTimes(peerPid);
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: Math.min(callers, calls) }, caller));
  const elapsedMs = performance.now() - startedMs;
  const used = cpuByRoleSince(before, WORKER_THREADS);
  const cpuUsedNs = used.callerMain + used.peerMain + used.workers + used.other;
  const perTaskUs = (ns: number): number => ns / 1000 / calls;
  return {
    tasksPerSecond: (calls / elapsedMs) * 1000,
    cpuPerTaskUs: perTaskUs(cpuUsedNs),
    mainThreadsPerTaskUs: perTaskUs(used.callerMain + used.peerMain),
    byRolePerTaskUs: usPer(used, calls),
    coresBusy: cpuUsedNs / 1e6 / elapsedMs,
    idleGapsMs: idleGaps(stamps),
    taskMs: stamps.map((stamp) => stamp.endMs - stamp.startMs),
  };
}

function idleGaps(stamps: readonly WorkStamp[]): number[] {
  const byThread = new Map<string, WorkStamp[]>();
  for (const stamp of stamps) {
    const list = byThread.get(stamp.thread) ?? [];
    list.push(stamp);
    byThread.set(stamp.thread, list);
  }
  const gaps: number[] = [];
  for (const list of byThread.values()) {
    list.sort((a, b) => a.startMs - b.startMs);
    for (let i = 1; i < list.length; i += 1) {
      gaps.push((list[i] as WorkStamp).startMs - (list[i - 1] as WorkStamp).endMs);
    }
  }
  return gaps;
}
