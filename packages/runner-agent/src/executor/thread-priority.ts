/**
 * Worker threads run a little nicer than the agent's main thread (Linux only), so when both
 * compete for a core the link goes first. With every core busy computing, the threads that
 * carry a call between tasks (the agent's main thread here, the parent's main thread there)
 * waited for a core to be given them: a thread whose next call had not arrived sat idle p50
 * 1.4 ms (p90 3.5 ms) on the 2-core bench VM, and ~2 ms tasks from 4 callers on 2 threads ran
 * 2.4–5.0% faster with the threads at nice +5 (846–862 → 866–892 tasks/s, four runs against
 * the same agent at nice 0; issue 23). A thread that computes still gets every core nobody
 * else wants: nice only orders threads that compete.
 *
 * Linux only: there a nice value belongs to a thread (setpriority(PRIO_PROCESS, 0) changes the
 * calling thread), and a thread may always lower its own priority. Elsewhere the same call
 * changes the whole process, so nothing is done.
 */
import { getPriority, setPriority } from "node:os";

/** How much nicer than the thread that started it a worker thread runs. */
export const WORKER_NICE_OFFSET = 5;
/** The lowest priority a nice value can say. */
const MAX_NICE = 19;

/** The nice value a worker thread takes on `platform`, from its own (inherited); null: none. */
export function workerNice(platform: NodeJS.Platform, inheritedNice: number): number | null {
  if (platform !== "linux") return null;
  return Math.min(MAX_NICE, inheritedNice + WORKER_NICE_OFFSET);
}

/**
 * Lowers the calling worker thread's priority (see the module doc). Returns why it could not,
 * or null when it did or had nothing to do.
 */
export function lowerThisThread(): string | null {
  try {
    const nice = workerNice(process.platform, getPriority(0));
    if (nice !== null) setPriority(0, nice);
    return null;
  } catch (error) {
    return (error as Error)?.message ?? String(error);
  }
}
