/**
 * Is the parent that booted a container still alive? Decided on this host from the labels:
 * the parent's pid must exist AND have started when the label says (so a pid reused by an
 * unrelated process after a reboot or wrap-around does not keep orphans alive).
 *
 * A parent on another host cannot be checked from here: it counts as alive (never reap what
 * we cannot judge). Pass your own `isParentAlive` to `reapOrphans` (e.g. backed by your
 * service registry or a heartbeat) to judge those.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { ParentIdentity } from "./labels.js";

/** Slack when comparing start times: the label is rounded to seconds, /proc ticks are 10 ms. */
const START_TIME_SLACK_MS = 2_000;
/** Linux's USER_HZ, fixed at 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

export function isParentAliveOnThisHost(parent: ParentIdentity): boolean {
  if (parent.host !== hostname()) return true;
  if (!pidExists(parent.pid)) return false;
  return startMatches(parent);
}

function startMatches(parent: ParentIdentity): boolean {
  const started = processStartedMs(parent.pid);
  // No /proc (macOS, Windows): the pid is alive and that is all we can know.
  if (started === null) return true;
  return Math.abs(started - parent.startedMs) <= START_TIME_SLACK_MS;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Epoch ms at which `pid` started, from /proc (Linux); null when unknown. */
export function processStartedMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime, in clock ticks since boot) comes after the parenthesised command,
    // which may itself contain spaces and parentheses.
    const afterComm = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(afterComm[19]);
    const btimeLine = readFileSync("/proc/stat", "utf8")
      .split("\n")
      .find((line) => line.startsWith("btime "));
    const bootSeconds = Number(btimeLine?.slice(6));
    if (!Number.isFinite(startTicks) || !Number.isFinite(bootSeconds)) return null;
    return bootSeconds * 1000 + (startTicks / CLOCK_TICKS_PER_SECOND) * 1000;
  } catch {
    return null;
  }
}
