/**
 * Single-image mode (FLAME's way): one image and one command for the app and its runners.
 *
 *   flame-runner --entry dist/functions.js --app dist/server.js
 *
 * A backend starts every runner with `FLAME_PARENT` set: the process serves as a runner, exactly
 * as `flame-runner --entry` does. Without `FLAME_PARENT` (you started the container, `fly
 * deploy` started the Machine) it is your app: the app module is imported into this very
 * process, so there is no supervisor layer in between. Signals, exit codes, stdout and stderr
 * are the app's own: this module installs no handler and prints nothing once the app loaded.
 * That is why Docker and Fly need neither a second image nor an `init.cmd` override.
 */
import { entryUrl } from "./entry-url.js";
import { type AgentExit, EXIT } from "./exit-codes.js";

/** What this process is, decided from its flags and environment. */
export type Role = { readonly kind: "runner" } | { readonly kind: "app"; readonly app: string };

/**
 * A backend-started process (FLAME_PARENT set) is always a runner, even when `--app` is given:
 * that is what lets the app's image run its runners. Otherwise `--app` (or FLAME_APP) makes it
 * the app; with neither, it is a runner that will explain FLAME_PARENT is missing.
 */
export function chooseRole(app: string | undefined, parent: string | undefined): Role {
  if (parent !== undefined && parent !== "") return { kind: "runner" };
  if (app !== undefined && app !== "") return { kind: "app", app };
  return { kind: "runner" };
}

/**
 * Imports the app module in-process. Resolves once its top-level code ran (the app keeps the
 * process alive with its own server, timers or sockets). A module that cannot be loaded gives
 * an exit the bin prints as its one `flame-runner:` line; a throw later on is the app's own
 * and ends the process the way Node ends any app (uncaught exception, exit code 1).
 */
export async function runApp(app: string): Promise<AgentExit | null> {
  const url = entryUrl(app);
  try {
    await import(url);
    return null;
  } catch (err) {
    const error = err as Error | undefined;
    if (error?.stack !== undefined) process.stderr.write(`${error.stack}\n`);
    return {
      code: EXIT.BAD_CONFIG,
      reason: `could not load app ${url}: ${error?.message ?? String(err)}`,
    };
  }
}
