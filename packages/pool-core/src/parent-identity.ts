/**
 * Who a parent process is, and whether it still lives — the one place that reads /proc for
 * either question, so the identity written into labels and the check the reaper makes can
 * never drift apart.
 *
 * A parent is named by facts the kernel keeps exactly and that no clock moves:
 *   - `bootId`: /proc/sys/kernel/random/boot_id, new at every boot of the kernel;
 *   - `pidNamespace`: the inode of /proc/self/ns/pid, since a pid only means something inside
 *     its pid namespace (a parent in a container is pid 1 or 7 there, something else outside);
 *   - `pid` and `startTicks`: /proc/<pid>/stat field 22, the process's start time in clock ticks
 *     since boot — an integer, so a pid reused by another process never matches it, and a
 *     wall-clock step (NTP, a VM resumed) never changes it (unlike /proc/stat `btime`, which
 *     is recomputed from the wall clock on every read).
 * The host name is recorded too, for people and for `isParentAlive` callbacks, but decides
 * nothing: host-network containers share it, and a pid namespace does not follow it.
 *
 * The verdict is "dead" only when this process can prove it: same boot, same pid namespace,
 * and the pid is gone or now belongs to a process that started at another tick. Everything
 * else — another machine, another pid namespace, no /proc, a pid we may not read — is
 * "unknown", and unknown counts as alive: a reaper that keeps an orphan costs a container,
 * one that removes a live runner costs someone's work.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";

/** Who the parent is, as a backend writes it on its runners (container labels, pod annotations). */
export interface ParentIdentity {
  /** The parent's instance id (pool-core's `parentId`, one per process hosting pools). */
  readonly parentId: string;
  /** Host name of the parent (informational: it decides nothing on its own). */
  readonly host: string;
  /** Kernel boot id of the parent's machine; null where /proc is missing. */
  readonly bootId: string | null;
  /** Inode of the parent's pid namespace (e.g. "4026531836"); null where /proc is missing. */
  readonly pidNamespace: string | null;
  /** The parent's pid inside `pidNamespace`. */
  readonly pid: number;
  /** The parent's start time in clock ticks since boot (/proc/<pid>/stat field 22); null where unknown. */
  readonly startTicks: number | null;
}

/** What this module can say about a parent; only `dead` lets a reaper remove anything. */
export type ParentVerdict =
  | { readonly alive: true; readonly why: string }
  | { readonly alive: false; readonly why: string };

/** Where /proc is: injectable so tests can stand for another machine or a clock step. */
export interface ProcSource {
  readonly procRoot: string;
}

const REAL_PROC: ProcSource = { procRoot: "/proc" };

/** This process as a parent. */
export function currentParentIdentity(
  parentId: string,
  source: ProcSource = REAL_PROC,
): ParentIdentity {
  return {
    parentId,
    host: hostname(),
    bootId: readBootId(source),
    pidNamespace: readPidNamespace("self", source),
    pid: process.pid,
    startTicks: readStartTicks("self", source),
  };
}

/**
 * Is `parent` alive, judged from this process? Dead only when provably so (see the module
 * comment); a parent on another machine or in another pid namespace counts as alive.
 */
export function judgeParent(parent: ParentIdentity, source: ProcSource = REAL_PROC): ParentVerdict {
  const bootId = readBootId(source);
  if (bootId === null || parent.bootId === null) {
    return { alive: true, why: "no /proc boot id to compare: cannot judge" };
  }
  if (parent.bootId !== bootId) {
    return { alive: true, why: "another machine or an earlier boot: cannot judge from here" };
  }
  const pidNamespace = readPidNamespace("self", source);
  if (pidNamespace === null || parent.pidNamespace !== pidNamespace) {
    return { alive: true, why: "another pid namespace: its pids mean nothing here" };
  }
  if (parent.startTicks === null) {
    return {
      alive: true,
      why: "no start time recorded: a live pid cannot be told from a reused one",
    };
  }
  const existence = pidExistence(parent.pid);
  if (existence === "gone") return { alive: false, why: `pid ${parent.pid} is gone` };
  const ticks = readStartTicks(String(parent.pid), source);
  if (ticks === null) {
    // The pid exists (kill(0) said so) but /proc hides it (hidepid, a race with its exit).
    return { alive: true, why: `pid ${parent.pid} exists but its start time is unreadable` };
  }
  if (ticks !== parent.startTicks) {
    return { alive: false, why: `pid ${parent.pid} now belongs to another process` };
  }
  return { alive: true, why: `pid ${parent.pid} is the parent and runs` };
}

/**
 * The default `isParentAlive` of `reapOrphans`: true unless this host can prove the parent
 * is gone (same boot, same pid namespace, pid gone or reused).
 */
export function isParentAliveOnThisHost(parent: ParentIdentity): boolean {
  return judgeParent(parent).alive;
}

function readBootId(source: ProcSource): string | null {
  const text = readText(`${source.procRoot}/sys/kernel/random/boot_id`);
  const bootId = text?.trim() ?? "";
  return bootId === "" ? null : bootId;
}

/** "pid:[4026531836]" → "4026531836". */
function readPidNamespace(pid: string, source: ProcSource): string | null {
  try {
    const link = readlinkSync(`${source.procRoot}/${pid}/ns/pid`);
    return /\[(\d+)\]/.exec(link)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** /proc/<pid>/stat field 22 (starttime, clock ticks since boot). */
function readStartTicks(pid: string, source: ProcSource): number | null {
  const stat = readText(`${source.procRoot}/${pid}/stat`);
  if (stat === null) return null;
  // Field 2 (comm) is parenthesised and may hold spaces and parentheses: count from the
  // last ")". What follows is field 3 (state), so field 22 is the 20th token after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) && ticks >= 0 ? ticks : null;
}

function pidExistence(pid: number): "exists" | "gone" {
  try {
    process.kill(pid, 0);
    return "exists";
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "ESRCH" ? "gone" : "exists";
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
