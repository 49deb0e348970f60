/** Child-process helpers: every process a bench starts is gone when the bench ends. */
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export function exitOf(child: ChildProcess): Promise<ProcessExit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Waits up to `graceMs` for the process to exit on its own; then `killAndWait`. */
export async function awaitExitOrKill(child: ChildProcess, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<"grace over">((resolve) => {
    timer = setTimeout(() => resolve("grace over"), graceMs);
  });
  const first = await Promise.race([exitOf(child), graceOver]);
  clearTimeout(timer);
  if (first === "grace over") await killAndWait(child, graceMs);
}

/** SIGTERM, then SIGKILL if it is still alive after `graceMs`; resolves once it has exited. */
export async function killAndWait(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<"grace over">((resolve) => {
    timer = setTimeout(() => resolve("grace over"), graceMs);
  });
  const first = await Promise.race([exited, graceOver]);
  clearTimeout(timer);
  if (first === "grace over") {
    child.kill("SIGKILL");
    await exited;
  }
}

/** Resident set size of a live process in bytes (Linux /proc), or null when unreadable. */
export async function residentBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
