/**
 * One descriptor, one verdict: the same FLAME_PARENT values run through the parent's path
 * (`decodeParentDescriptor`, which backends and the pool use) and through the agent's cold
 * start (the built `flame-runner` bin, which checks FLAME_PARENT before it loads the rest of
 * pool-core). A refused value is refused by both with the same sentence; an accepted one is
 * accepted by both (the agent then gets as far as dialing a parent that is not there).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { decodeParentDescriptor } from "../../src/protocol/descriptor.js";
import { RUNNER_EXIT } from "../../src/wire/index.js";

const AGENT_BIN = fileURLToPath(new URL("../../../runner-agent/dist/bin.js", import.meta.url));
const FUNCTIONS = fileURLToPath(
  new URL("../../../runner-agent/test/fixtures/functions.mjs", import.meta.url),
);

const valid = {
  // Port 0: a dial there fails at once, every time.
  url: "ws://127.0.0.1:0",
  token: "t0k3n-for-a-parent-that-is-not-there",
  runnerId: "verdicts-1-ab",
  pool: "verdicts",
  protocol: 4,
  idleShutdownAfterMs: null,
  singleUse: false,
  // Short: an accepted descriptor ends as PARENT_UNREACHABLE soon after.
  failsafeTimeoutMs: 300,
  shutdownTimeoutMs: 1_000,
  maxFrameBytes: 1024 * 1024,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 10_000,
  maxConcurrency: 2,
  execution: { mode: "inline", threads: null, terminateGraceMs: 100, threadMemoryMb: null },
} as const;

const encode = (value: unknown): string =>
  Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
const withField = (name: string, value: unknown) => encode({ ...valid, [name]: value });
const withExecution = (name: string, value: unknown) =>
  encode({ ...valid, execution: { ...valid.execution, [name]: value } });

const accepted: ReadonlyArray<readonly [string, string]> = [
  ["the baseline (inline)", encode(valid)],
  ["worker threads with a whole-MiB heap cap", withExecution("mode", "threads")],
  [
    "threadMemoryMb 64 on threads",
    encode({ ...valid, execution: { ...valid.execution, mode: "threads", threadMemoryMb: 64 } }),
  ],
  ["idleShutdownAfterMs 0", withField("idleShutdownAfterMs", 0)],
];

const refused: ReadonlyArray<readonly [string, string, string]> = [
  [
    "threadMemoryMb 1.5 (MiB are whole)",
    withExecution("threadMemoryMb", 1.5),
    "execution.threadMemoryMb",
  ],
  ["threadMemoryMb 0", withExecution("threadMemoryMb", 0), "execution.threadMemoryMb"],
  ["threadMemoryMb as a string", withExecution("threadMemoryMb", "64"), "execution.threadMemoryMb"],
  ["threads 0", withExecution("threads", 0), "execution.threads"],
  ["mode unknown", withExecution("mode", "fork"), "execution.mode"],
  ["terminateGraceMs -1", withExecution("terminateGraceMs", -1), "execution.terminateGraceMs"],
  ["maxFrameBytes below 1024", withField("maxFrameBytes", 1023), "maxFrameBytes"],
  ["maxFrameBytes fractional", withField("maxFrameBytes", 2048.5), "maxFrameBytes"],
  ["runnerId missing", withField("runnerId", undefined), "runnerId"],
  ["url not ws", withField("url", "http://127.0.0.1:1"), "url"],
  [
    "heartbeat timeout not above its interval",
    withField("heartbeatTimeoutMs", 1_000),
    "heartbeatTimeoutMs",
  ],
  ["failsafeTimeoutMs 0", withField("failsafeTimeoutMs", 0), "failsafeTimeoutMs"],
  ["execution missing", withField("execution", undefined), "execution"],
  ["not JSON", "%%%not-base64url-json", ""],
];

function parentVerdict(
  encoded: string,
): { ok: true } | { ok: false; message: string; field: string } {
  try {
    decodeParentDescriptor(encoded);
    return { ok: true };
  } catch (error) {
    expect(error).toBeInstanceOf(FlameError);
    const e = error as FlameError;
    expect(e.code).toBe("INVALID_OPTIONS");
    return { ok: false, message: e.message, field: e.field ?? "" };
  }
}

/** The agent's verdict: its exit code and final line (`flame-runner: <reason>`). */
function agentVerdict(encoded: string): Promise<{ code: number | null; finalLine: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FLAME_PARENT: encoded };
    delete env.FLAME_APP;
    execFile(
      process.execPath,
      [AGENT_BIN, "--entry", FUNCTIONS],
      { env, timeout: 20_000 },
      (error, _stdout, stderr) => {
        const lines = stderr.trim().split("\n");
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, finalLine: lines.at(-1) ?? "" });
      },
    );
  });
}

describe("a FLAME_PARENT gets the same verdict from the parent and the agent", () => {
  it.each(accepted)("accepts %s on both ends", async (_name, encoded) => {
    expect(parentVerdict(encoded)).toEqual({ ok: true });
    const agent = await agentVerdict(encoded);
    expect(agent.finalLine).toMatch(/^flame-runner: /);
    expect(agent.code).toBe(RUNNER_EXIT.PARENT_UNREACHABLE);
  });

  it.each(refused)("refuses %s on both ends, in the same words", async (_name, encoded, field) => {
    const parent = parentVerdict(encoded);
    expect(parent.ok).toBe(false);
    if (parent.ok) return;
    expect(parent.field).toBe(field === "" ? "FLAME_PARENT" : `FLAME_PARENT.${field}`);
    const agent = await agentVerdict(encoded);
    expect(agent.code).toBe(RUNNER_EXIT.BAD_CONFIG);
    expect(agent.finalLine).toBe(`flame-runner: ${parent.message}`);
  });
});
