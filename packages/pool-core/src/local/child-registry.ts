/**
 * Runner processes must never outlive a parent that exits normally: every live child is
 * SIGKILLed from a process "exit" hook (the only hook that runs for every normal exit;
 * it is synchronous, so a kill is all it can do). A parent killed with SIGKILL runs no hook;
 * there the agent's own failsafe (link lost → exit) takes over.
 */
import type { ChildProcess } from "node:child_process";

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Tracks `child` until it exits; returns the function that stops tracking it. */
export function trackChild(child: ChildProcess): () => void {
  if (!hooked) {
    hooked = true;
    process.once("exit", killAll);
  }
  live.add(child);
  return () => live.delete(child);
}
