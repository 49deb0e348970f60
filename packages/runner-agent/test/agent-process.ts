/**
 * Starts a real `flame-runner` (plain node on the built dist/) for tests, and makes sure it is
 * gone afterwards. Build first: `npm run build -w @flame-ts/pool-core -w @flame-ts/runner-agent`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  encodeParentDescriptor,
  generateToken,
} from "@flame-ts/pool-core/protocol";
import { type ParentDescriptor, PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { expect, vi } from "vitest";

/** The `flame-runner` bin a backend starts: the bundle (scripts/bundle.mjs), as installed. */
export const AGENT_BIN = fileURLToPath(
  new URL(
    `../${JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).bin["flame-runner"]}`,
    import.meta.url,
  ),
);
export const FUNCTIONS_FIXTURE = fileURLToPath(
  new URL("./fixtures/functions.mjs", import.meta.url),
);

export interface AgentEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** The last non-empty stderr line: the agent's `flame-runner: <reason>`. */
  readonly lastLine: string;
}

/**
 * A runner's descriptor for a parent at `to`: a URL (a fresh token nobody holds) or a parent
 * that holds the runner's token (a FakeParent).
 */
export function descriptor(
  to: string | { readonly url: string; readonly token: string },
  overrides: Partial<ParentDescriptor> = {},
): ParentDescriptor {
  return {
    url: typeof to === "string" ? to : to.url,
    token: typeof to === "string" ? generateToken() : to.token,
    runnerId: `test-${Math.random().toString(16).slice(2, 10)}`,
    pool: "test",
    protocol: PROTOCOL_VERSION,
    idleShutdownAfterMs: null,
    singleUse: false,
    failsafeTimeoutMs: 10_000,
    shutdownTimeoutMs: 5_000,
    maxFrameBytes: 64 * 1024 * 1024,
    heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
    maxConcurrency: 1,
    execution: DEFAULT_EXECUTION,
    ...overrides,
  };
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly ended: Promise<AgentEnd>;
  private stderr = "";

  constructor(env: Record<string, string>, args: string[] = ["--entry", FUNCTIONS_FIXTURE]) {
    this.child = spawn(process.execPath, [AGENT_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.ended = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        const lines = this.stderr.split("\n").filter((l) => l.trim().length > 0);
        resolve({ code, signal, stderr: this.stderr, lastLine: lines.at(-1) ?? "" });
      });
    });
    live.add(this);
    void this.ended.then(() => live.delete(this));
  }

  static start(d: ParentDescriptor, args?: string[]): AgentProcess {
    return new AgentProcess({ FLAME_PARENT: encodeParentDescriptor(d) }, args);
  }

  /** Waits until stderr contains `text` (e.g. a --debug line), failing after `boundMs`. */
  async stderrContains(text: string, boundMs = 10_000): Promise<void> {
    await vi.waitFor(() => expect(this.stderr).toContain(text), {
      timeout: boundMs,
      interval: 20,
    });
  }

  /** Waits for the exit, failing the test if it does not come within the bound. */
  async exit(boundMs = 15_000): Promise<AgentEnd> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`flame-runner did not exit within ${boundMs} ms; stderr: ${this.stderr}`),
          ),
        boundMs,
      );
    });
    try {
      return await Promise.race([this.ended, bound]);
    } finally {
      clearTimeout(timer);
    }
  }
}

const live = new Set<AgentProcess>();

/** For afterEach: SIGKILL every agent still running and wait until each is gone. */
export async function killAllAgents(): Promise<void> {
  const all = [...live];
  for (const a of all) a.child.kill("SIGKILL");
  await Promise.all(all.map((a) => a.ended));
}
