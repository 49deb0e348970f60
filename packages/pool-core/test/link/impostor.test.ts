/**
 * Issue 22, row 6: an impostor on the parent's address, over plain ws://. A real runner agent
 * (LocalBackend) is told its parent is where the impostor listens (fixtures/impostor.mjs, its
 * own process); the real parent (RunnerServer) expects that runner elsewhere. Whatever the
 * impostor captures, replayed to the real parent while it still expects the runner, is
 * refused; an impostor that cannot prove it holds the runner's token gets no proof of the
 * runner's and the runner exits 4 saying so; the token is in no byte the runner sent.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/index.js";
import { type LinkLogLevel, RunnerServer } from "../../src/link/index.js";
import {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  encodeParentDescriptor,
  generateToken,
} from "../../src/protocol.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";
import { fixtureEntry } from "../e2e/helpers.js";
import { cleanups } from "./cleanups.js";

const IMPOSTOR = fileURLToPath(new URL("./fixtures/impostor.mjs", import.meta.url));

type Logged = { level: LinkLogLevel; msg: string; fields?: Record<string, unknown> | undefined };

interface Impostor {
  readonly url: string;
  /** Every byte the runner sent on its first connection, and what the replay was answered. */
  readonly outcome: Promise<{ captured: string; replayed: string[] }>;
}

async function startImpostor(mode: "answer" | "tap", parentUrl: string): Promise<Impostor> {
  const child: ChildProcess = spawn(process.execPath, [IMPOSTOR, mode, parentUrl], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanups.push(async () => {
    child.stdin?.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let captured: string | null = null;
  let listening!: (port: number) => void;
  let finished!: (o: { captured: string; replayed: string[] }) => void;
  const port = new Promise<number>((resolve) => {
    listening = resolve;
  });
  const outcome = new Promise<{ captured: string; replayed: string[] }>((resolve) => {
    finished = resolve;
  });
  lines.on("line", (line) => {
    const [word, value = ""] = line.split(" ");
    if (word === "listening") listening(Number(value));
    if (word === "captured") captured = Buffer.from(value, "base64").toString("latin1");
    if (word === "replayed") finished({ captured: captured ?? "", replayed: value.split(",") });
  });
  return { url: `ws://127.0.0.1:${await port}`, outcome };
}

/** Boots a real runner agent whose descriptor names `url` as its parent. */
async function bootRunner(url: string, runnerId: string, token: string) {
  const booted = await new LocalBackend({ entry: fixtureEntry }).boot({
    runnerId,
    poolName: "impostor-test",
    parentId: "impostor-test-parent",
    env: {
      FLAME_PARENT: encodeParentDescriptor({
        url,
        token,
        runnerId,
        pool: "impostor-test",
        protocol: PROTOCOL_VERSION,
        idleShutdownAfterMs: null,
        singleUse: false,
        failsafeTimeoutMs: 20_000,
        shutdownTimeoutMs: 5_000,
        maxFrameBytes: 16 * 1024 * 1024,
        heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
        heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
        maxConcurrency: 1,
        execution: DEFAULT_EXECUTION,
      }),
    },
    signal: AbortSignal.timeout(60_000),
    deadlineMs: Date.now() + 60_000,
  });
  cleanups.push(() => booted.stop());
  return booted;
}

async function realParent() {
  const logs: Logged[] = [];
  const server = await RunnerServer.listen({
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  cleanups.push(() => server.close());
  return { server, logs };
}

describe("row 6: no replayable secret before the peer proves itself (ws://)", () => {
  it("an impostor that answers the runner itself gets no token and nothing the real parent accepts; the runner exits 4", {
    timeout: 60_000,
  }, async () => {
    const { server } = await realParent();
    const token = generateToken();
    let admitted = false;
    const expecting = server.expect("r-imp", token, AbortSignal.timeout(50_000));
    expecting.then(() => (admitted = true)).catch(() => {});
    const impostor = await startImpostor("answer", server.url);
    const runner = await bootRunner(impostor.url, "r-imp", token);

    const { captured, replayed } = await impostor.outcome;
    expect(captured).toContain("x-flame-runner: r-imp");
    expect(captured).not.toContain(token);
    // The runner sent its challenge only: nothing the real parent upgrades.
    expect(replayed).not.toContain("101");
    expect(captured).not.toMatch(/upgrade: *websocket/i);
    const exit = await runner.exited;
    expect(exit.code).toBe(4);
    expect(exit.reason).toMatch(
      /the parent at ws:\/\/127\.0\.0\.1:\d+ did not prove it holds this runner's token/,
    );
    expect(admitted).toBe(false);
  });

  it("a wiretap that replays a real exchange to the parent is refused while the runner is expected; the runner still gets in", {
    timeout: 60_000,
  }, async () => {
    const { server, logs } = await realParent();
    const token = generateToken();
    const expecting = server.expect("r-tap", token, AbortSignal.timeout(50_000));
    expecting.catch(() => {});
    const impostor = await startImpostor("tap", server.url);
    await bootRunner(impostor.url, "r-tap", token);

    const { captured, replayed } = await impostor.outcome;
    expect(captured).not.toContain(token);
    // Replayed on a fresh connection: a fresh challenge, and the old proof is refused.
    expect(replayed).toEqual(["200", "401"]);
    // The tap saw the whole handshake: the challenge and the upgrade with the runner's proof.
    expect(captured).toMatch(/upgrade: *websocket/i);
    expect(captured).toContain("x-flame-proof: ");
    expect(logs.find((l) => l.fields?.code === "UNAUTHORIZED")?.fields?.reason).toBe("wrong proof");
    // The runner redials (through the tap, now relaying whole) and is the one admitted.
    const conn = await expecting;
    expect(conn.runnerId).toBe("r-tap");
    conn.terminate("test over");
  });
});
