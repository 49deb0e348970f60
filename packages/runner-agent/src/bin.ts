#!/usr/bin/env node
/**
 * flame-runner: the process a backend starts on a runner. Every way it ends prints exactly one
 * final line `flame-runner: <reason>` on stderr and exits with a code from exit-codes.ts.
 */
import { parseArgs } from "node:util";
import { type ParentDescriptor, parseDescriptor } from "@flame-ts/pool-core/wire";
import { chooseRole, runApp } from "./app-mode.js";
import { entryUrl } from "./entry-url.js";
import { createStagingMemory } from "./executor/staging.js";
import { endAllThreads } from "./executor/thread.js";
import { startFirstThread, type ThreadSettings } from "./executor/thread-pool.js";
import { type AgentExit, EXIT } from "./exit-codes.js";
import { scrubInitialEnviron } from "./scrub-environ.js";

const USAGE = `Usage: flame-runner --entry <module> [--app <module>] [--debug]
  --entry <module>  the module that defines your functions (or FLAME_ENTRY)
  --app <module>    single-image mode: without FLAME_PARENT, import this module (your app)
                    in this process instead of serving as a runner (or FLAME_APP)
  --debug           diagnostic lines on stderr (or FLAME_RUNNER_DEBUG=1)
Environment: FLAME_PARENT (set by the pool's backend; removed from the environment once read,
  FLAME_RUNNER=1 set instead), FLAME_ENTRY, FLAME_APP, FLAME_RUNNER_DEBUG.`;

function finish(exit: AgentExit): never {
  process.stderr.write(`flame-runner: ${exit.reason}\n`);
  process.exit(exit.code);
}

/** How long the way out waits for the threads to stop (they stop in a few ms). */
const THREADS_END_BOUND_MS = 2_000;

let leaving = false;
/**
 * `finish`, once every worker thread has stopped (executor/thread.ts `endAllThreads`): the
 * first thread may still be loading the entry when the runner is refused or fails. The one way
 * out once threads may run: a second cause (another crash) only adds its stack.
 */
function leaveOnce(exit: AgentExit, debug: (msg: string) => void): void {
  if (leaving) return;
  leaving = true;
  void endAllThreads(THREADS_END_BOUND_MS).then((ended) => {
    if (ended > 0) debug(`ended ${ended} worker thread(s) before exiting`);
    finish(exit);
  });
}

async function main(): Promise<void> {
  let values: {
    entry?: string | undefined;
    app?: string | undefined;
    debug?: boolean | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      options: {
        entry: { type: "string" },
        app: { type: "string" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    finish({ code: EXIT.BAD_CONFIG, reason: `${(err as Error).message}\n${USAGE}` });
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const entry = values.entry ?? process.env.FLAME_ENTRY;
  const debugOn = values.debug === true || process.env.FLAME_RUNNER_DEBUG === "1";
  const rawParent = process.env.FLAME_PARENT;
  // The descriptor holds this runner's token: no dependency, worker thread or child process
  // may read it from the environment. FLAME_RUNNER (no secret) keeps telling a Pool created
  // in here that it runs inside a runner (its min is forced to 0).
  delete process.env.FLAME_PARENT;
  if (rawParent !== undefined && rawParent !== "") {
    process.env.FLAME_RUNNER = "1";
    // process.env no longer has it, but /proc/<pid>/environ still shows the copy the kernel
    // placed at exec: overwrite it before any thread starts or any user module loads.
    const scrub = scrubInitialEnviron("FLAME_PARENT");
    if (debugOn) {
      process.stderr.write(
        scrub.ok
          ? `flame-runner[debug]: FLAME_PARENT overwritten in /proc/self/environ (copies: ${scrub.copies})\n`
          : `flame-runner[debug]: FLAME_PARENT left in /proc/self/environ: ${scrub.why}\n`,
      );
    }
  }
  const role = chooseRole(values.app ?? process.env.FLAME_APP, rawParent);
  if (role.kind === "app") {
    // No handlers, no final line once it loaded: the process is the app's from here on.
    void runApp(role.app).then((failed) => {
      if (failed !== null) finish(failed);
    });
    return;
  }
  if (rawParent === undefined || rawParent === "") {
    finish({
      code: EXIT.BAD_CONFIG,
      reason: "FLAME_PARENT is not set; runners are started by a pool's backend, which sets it",
    });
  }
  // pool-core's wire module is dependency-free, so the descriptor gets the parent's own check
  // (same rules, same words) before the rest of pool-core loads.
  const verdict = parseDescriptor(rawParent);
  if (!verdict.ok) finish({ code: EXIT.BAD_CONFIG, reason: verdict.violation.message });
  const { descriptor } = verdict;
  // The first thread boots and loads the entry on another core while this thread loads the
  // rest (pool-core's protocol, ws, the link, the session): all imported only after it started.
  const early = firstThreadSettings(descriptor, entry);
  const firstThread = early === null ? undefined : startFirstThread(early);
  const debug = debugOn
    ? (msg: string) => void process.stderr.write(`flame-runner[debug]: ${msg}\n`)
    : () => {};
  // Node's default would also exit, but without the final line backends read.
  process.on("uncaughtException", (err) => {
    process.stderr.write(`${err?.stack ?? String(err)}\n`);
    leaveOnce(
      {
        code: EXIT.CRASHED,
        reason: `crashed: uncaught exception in function code: ${err?.message ?? String(err)}`,
      },
      debug,
    );
  });
  const { startAgent } = await import("./agent.js");
  const agent = startAgent({
    descriptor,
    ...(entry === undefined ? {} : { entry }),
    ...(firstThread === undefined ? {} : { firstThread }),
    ...(debugOn ? { debug } : {}),
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => agent.stop(`stopped by ${signal}`));
  }
  void agent.exited.then((exit) => leaveOnce(exit, debug));
}

/** What the first thread needs; null when the runner does not run functions on threads. */
function firstThreadSettings(
  d: ParentDescriptor,
  entry: string | undefined,
): ThreadSettings | null {
  if (d.execution.mode !== "threads") return null;
  return {
    entry: entry === undefined ? null : entryUrl(entry),
    runnerId: d.runnerId,
    maxFrameBytes: d.maxFrameBytes,
    threadMemoryMb: d.execution.threadMemoryMb,
    staging: createStagingMemory(),
  };
}

main().catch((err: unknown) => {
  // Only the agent's own import can fail here (a broken install): say so on the final line.
  leaveOnce(
    {
      code: EXIT.BAD_CONFIG,
      reason: `could not start the agent: ${(err as Error)?.message ?? String(err)}`,
    },
    () => {},
  );
});
