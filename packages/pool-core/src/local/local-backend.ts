/**
 * LocalBackend: each runner is a runner-agent child process on this machine. The embedded
 * default, and the backend every other one is compared against in the conformance suite.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Backend, BootedRunner, BootRequest, RunnerExit } from "../backend.js";
import { FlameError, invalidOption } from "../errors.js";
import type { LogFn } from "../options/index.js";
import { resolveAgentBin } from "./agent-bin.js";
import { trackChild } from "./child-registry.js";
import { loaderFlags } from "./loader-flags.js";
import { pipeRunnerOutput } from "./runner-output.js";

export interface LocalBackendOptions {
  /**
   * The module that defines the functions (the same one the parent imports). A `.ts` entry
   * works when the parent itself runs TypeScript through a loader (`tsx app.ts`, `node
   * --import tsx app.ts`): see `inheritLoaders`. Required.
   */
  readonly entry: URL | string;
  /**
   * Extra `node` flags for runners (e.g. `["--enable-source-maps"]`), after the inherited
   * loaders. Default `[]`.
   */
  readonly execArgv?: readonly string[];
  /**
   * Start runners with the parent's module loader flags (`--import`, `--require`, `--loader`,
   * type stripping) from `process.execArgv`, so they load the entry the way the parent does.
   * Other parent flags (`--inspect`, `--conditions`, heap limits) are never passed on.
   * Default `true`.
   */
  readonly inheritLoaders?: boolean;
  /**
   * Where runners' stdout and stderr lines go: `log(level, line, { runnerId, stream })`, the
   * agent's own `flame-runner:` lines at `debug`, everything else (your functions'
   * `console.log`) at `info`. Default: the pool's `log` option (silent when it is `false`).
   */
  readonly log?: LogFn;
  /** Extra environment for runners (added to this process's environment). Default `{}`. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Path to the runner-agent bin. Default: the `flame-runner` bin of the installed
   * `@flame-ts/runner-agent`; when that is not installed, boots fail BOOT_FAILED (permanent).
   */
  readonly agentPath?: string;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 5,000 ms. */
  readonly killAfterMs?: number;
}

const DEFAULT_KILL_AFTER_MS = 5_000;

export class LocalBackend implements Backend {
  readonly name = "local";
  readonly #entry: string;
  readonly #execArgv: readonly string[];
  readonly #inheritLoaders: boolean;
  readonly #log: LogFn | undefined;
  readonly #env: Readonly<Record<string, string>>;
  readonly #agentPath: string | undefined;
  readonly #killAfterMs: number;

  constructor(options: LocalBackendOptions) {
    if (typeof options !== "object" || options === null) {
      throw invalidOption("LocalBackend options", "an object { entry }", options);
    }
    this.#entry = entryPath(options.entry);
    const execArgv = options.execArgv ?? [];
    if (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== "string")) {
      throw invalidOption("execArgv", "an array of strings", execArgv);
    }
    this.#execArgv = execArgv;
    const inheritLoaders = options.inheritLoaders ?? true;
    if (typeof inheritLoaders !== "boolean") {
      throw invalidOption("inheritLoaders", "true or false", inheritLoaders);
    }
    this.#inheritLoaders = inheritLoaders;
    if (options.log !== undefined && typeof options.log !== "function") {
      throw invalidOption("log", "a function (level, message, fields) => void", options.log);
    }
    this.#log = options.log;
    const env = options.env ?? {};
    if (typeof env !== "object" || env === null) throw invalidOption("env", "an object", env);
    for (const [key, value] of Object.entries(env)) {
      if (typeof value !== "string") throw invalidOption(`env.${key}`, "a string", value);
    }
    this.#env = env;
    if (options.agentPath !== undefined && typeof options.agentPath !== "string") {
      throw invalidOption("agentPath", "a file path", options.agentPath);
    }
    this.#agentPath = options.agentPath;
    const killAfterMs = options.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
    if (typeof killAfterMs !== "number" || !(killAfterMs > 0)) {
      throw invalidOption("killAfterMs", "a positive number of milliseconds", killAfterMs);
    }
    this.#killAfterMs = killAfterMs;
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    if (req.signal.aborted) throw req.signal.reason;
    const agent = this.#agentPath ?? resolveAgentBin();
    const loaders = this.#inheritLoaders ? loaderFlags(process.execArgv) : [];
    const argv = [...loaders, ...this.#execArgv, agent, "--entry", this.#entry];
    // Loaded on first boot, not at import (see RunnerServer.listen).
    const { spawn } = await import("node:child_process");
    // Aborted while loading (the pool stopped): start nothing.
    if (req.signal.aborted) throw req.signal.reason;
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, ...this.#env, ...req.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = this.#log ?? req.log ?? (() => {});
    const runner = new LocalRunner(child, this.#killAfterMs, req.runnerId, log);
    await runner.spawned().catch((error: unknown) => {
      throw new FlameError(
        "BOOT_FAILED",
        `LocalBackend could not start \`${process.execPath}\`: ${String(error)}`,
        { cause: error, runnerId: req.runnerId },
      );
    });
    // Aborting the boot (deadline, pool stop) ends the process; the host reports why.
    const onAbort = () => void runner.stop();
    if (req.signal.aborted) {
      // Aborted while the process was starting: its listener would never fire.
      await runner.stop();
      throw req.signal.reason;
    }
    req.signal.addEventListener("abort", onAbort, { once: true });
    void runner.exited.then(() => req.signal.removeEventListener("abort", onAbort));
    return runner;
  }
}

class LocalRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly #child: ChildProcess;
  readonly #killAfterMs: number;
  #lastStderrLine = "";
  #stopping: Promise<void> | null = null;

  constructor(child: ChildProcess, killAfterMs: number, runnerId: string, log: LogFn) {
    this.#child = child;
    this.#killAfterMs = killAfterMs;
    this.meta = { pid: String(child.pid ?? "") };
    const untrack = trackChild(child);
    if (child.stdout !== null) pipeRunnerOutput(child.stdout, "stdout", runnerId, log);
    if (child.stderr !== null) {
      // The last stderr line explains an exit (the agent's `flame-runner: <reason>`).
      pipeRunnerOutput(child.stderr, "stderr", runnerId, log, (line) => {
        this.#lastStderrLine = line.trim();
      });
    }
    this.exited = new Promise<RunnerExit>((resolve) => {
      child.once("close", (code, signal) => {
        untrack();
        const how = signal === null ? `exit code ${code}` : `killed by ${signal}`;
        resolve({
          code,
          reason: this.#lastStderrLine.length > 0 ? this.#lastStderrLine : how,
        });
      });
    });
  }

  spawned(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#child.pid !== undefined) {
        resolve();
        return;
      }
      this.#child.once("spawn", () => resolve());
      this.#child.once("error", reject);
    });
  }

  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves once the process is gone. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const child = this.#child;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), this.#killAfterMs);
        await this.exited;
        clearTimeout(timer);
      }
      await this.exited;
    })();
    return this.#stopping;
  }
}

function entryPath(entry: unknown): string {
  if (entry instanceof URL) {
    if (entry.protocol !== "file:")
      throw invalidOption("entry", "a file: URL or a path", entry.href);
    return fileURLToPath(entry);
  }
  if (typeof entry === "string" && entry.length > 0) {
    return entry.startsWith("file:") ? fileURLToPath(entry) : entry;
  }
  throw invalidOption("entry", "the functions module as a file URL or path", entry);
}
