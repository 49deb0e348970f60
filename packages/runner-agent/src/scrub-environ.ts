/**
 * Deleting a variable from `process.env` only unlinks it from libc's `environ` array: the
 * string the kernel placed on the stack at exec stays where it was, and `/proc/<pid>/environ`
 * (readable by this process, its worker threads and every process of the same user, so by
 * any child a function starts) is read straight from that memory, between `env_start` and
 * `env_end` of `/proc/self/stat`. On Linux this overwrites the variable's value there, in
 * place, through `/proc/self/mem`. Imports nothing but node:fs: bin.ts runs it first thing.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** What scrubbing did: "scrubbed" (every copy overwritten), or why it could not. */
export type ScrubOutcome =
  | { readonly ok: true; readonly copies: number }
  | { readonly ok: false; readonly why: string };

/** `env_start` and `env_end` are fields 50 and 51 of /proc/<pid>/stat (proc(5)). */
const ENV_START_FIELD = 50;
/** Bytes written over a value: printable, so tools that list environ still parse it. */
const FILL = 0x78; // "x"

/**
 * Overwrites the value of every `name=` entry of this process's initial environment with
 * `x`s of the same length (the name stays; lengths cannot change). Call it after
 * `delete process.env[name]`, or libc's copy would be overwritten too. Never throws.
 */
export function scrubInitialEnviron(name: string): ScrubOutcome {
  if (process.platform !== "linux") return { ok: false, why: `not Linux (${process.platform})` };
  let fd: number | undefined;
  try {
    const region = envRegion();
    if (region === null) return { ok: false, why: "no env_start/env_end in /proc/self/stat" };
    const [start, end] = region;
    fd = openSync("/proc/self/mem", "r+");
    const env = Buffer.allocUnsafe(end - start);
    const got = readSync(fd, env, 0, env.length, start);
    const key = Buffer.from(`${name}=`, "latin1");
    let copies = 0;
    // Every entry that starts with `name=` (entries are NUL-terminated strings).
    for (let at = env.indexOf(key); at !== -1 && at < got; at = env.indexOf(key, at + 1)) {
      if (at > 0 && env[at - 1] !== 0) continue;
      let stop = env.indexOf(0, at);
      if (stop === -1 || stop > got) stop = got;
      const length = stop - at - key.length;
      if (length > 0) {
        const from = at + key.length;
        env.fill(FILL, from, stop);
        if (writeSync(fd, env, from, length, start + from) !== length) {
          return { ok: false, why: "short write to /proc/self/mem" };
        }
      }
      copies++;
    }
    return { ok: true, copies };
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code ?? String(err) };
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Nothing left to do with it.
      }
    }
  }
}

/** [env_start, env_end) of this process, or null when /proc/self/stat does not say. */
function envRegion(): [number, number] | null {
  const fd = openSync("/proc/self/stat", "r");
  let stat: string;
  try {
    const buf = Buffer.allocUnsafe(2048);
    stat = buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
  // The command name (field 2) is in parentheses and may hold spaces: count after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[ENV_START_FIELD - 3]);
  const end = Number(fields[ENV_START_FIELD - 2]);
  // Positions must be exact numbers for fs (user addresses are far below 2^53).
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !(start > 0 && end > start)) {
    return null;
  }
  return [start, end];
}
