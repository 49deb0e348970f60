/** flame-runner on its own: exit codes, the failsafe, and what it does with bad frames. */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AnyMessage, DEFAULT_EXECUTION } from "@flame-ts/pool-core/protocol";
import { CLOSE_PROTOCOL, PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { afterEach, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../src/version.js";
import {
  AGENT_BIN,
  AgentProcess,
  descriptor,
  FUNCTIONS_FIXTURE,
  killAllAgents,
} from "./agent-process.js";
import { FakeParent, frame, input, isT } from "./fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeParent(options: Parameters<typeof FakeParent.listen>[0] = {}) {
  const parent = await FakeParent.listen(options);
  cleanups.push(() => parent.close());
  return parent;
}

/** A 127.0.0.1 port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  return typeof address === "object" && address !== null ? address.port : 1;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie (exited, not yet reaped by its new parent) counts as gone.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

describe("flame-runner exit codes", () => {
  it("exits 1 when FLAME_PARENT is missing", async () => {
    const missing = await new AgentProcess({ FLAME_PARENT: "" }).exit();
    expect(missing.code).toBe(1);
    expect(missing.lastLine).toMatch(/^flame-runner: FLAME_PARENT is not set/);
  });

  it("exits 1 naming the bad field of FLAME_PARENT", async () => {
    const raw = Buffer.from(
      JSON.stringify({ ...descriptor("ws://127.0.0.1:1"), singleUse: "yes" }),
    ).toString("base64url");
    const end = await new AgentProcess({ FLAME_PARENT: raw }).exit();
    expect(end.code).toBe(1);
    expect(end.lastLine).toContain("FLAME_PARENT.singleUse");
  });

  it("exits 1 when the entry module fails to load", async () => {
    const broken = fileURLToPath(new URL("./fixtures/broken-entry.mjs", import.meta.url));
    const end = await AgentProcess.start(descriptor("ws://127.0.0.1:1"), [
      "--entry",
      broken,
    ]).exit();
    expect(end.code).toBe(1);
    expect(end.lastLine).toMatch(
      /^flame-runner: could not load entry .*broken-entry\.mjs: entry exploded on purpose/,
    );
  });

  it("exits 1 on an unknown flag", async () => {
    const end = await AgentProcess.start(descriptor("ws://127.0.0.1:1"), ["--bogus"]).exit();
    expect(end.code).toBe(1);
    expect(end.stderr).toContain("Usage: flame-runner");
  });

  it("failsafe: exits 2 when the parent is unreachable within failsafeTimeoutMs", async () => {
    const port = await closedPort();
    const startedAt = Date.now();
    const end = await AgentProcess.start(
      descriptor(`ws://127.0.0.1:${port}`, { failsafeTimeoutMs: 1_000 }),
    ).exit(15_000);
    console.log(
      `flame-runner gave up on an unreachable parent after ${Date.now() - startedAt} ms (failsafe 1000 ms)`,
    );
    expect(end.code).toBe(2);
    expect(end.lastLine).toMatch(
      new RegExp(
        `^flame-runner: parent unreachable at ws://127\\.0\\.0\\.1:${port} within 1000 ms`,
      ),
    );
  });

  it("exits 4 when the parent refuses its protocol", async () => {
    const parent = await fakeParent({
      onHello: (ws) => ws.close(CLOSE_PROTOCOL, "runner speaks protocol 9"),
    });
    const end = await AgentProcess.start(descriptor(parent)).exit();
    expect(end.code).toBe(4);
    expect(end.lastLine).toBe("flame-runner: refused by parent: runner speaks protocol 9");
  });

  it("exits 3 when the parent stops answering heartbeats", async () => {
    const parent = await fakeParent({ autoPong: false });
    const agent = AgentProcess.start(descriptor(parent));
    await parent.connected;
    const end = await agent.exit();
    expect(end.code).toBe(3);
    expect(end.lastLine).toMatch(/^flame-runner: parent link lost: no heartbeat for \d+ ms/);
  });

  it("exits 3 when its parent process is SIGKILLed (a runner never outlives its parent)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flame-failsafe-"));
    const stderrFile = join(dir, "agent.stderr");
    const parentScript = fileURLToPath(new URL("./fixtures/parent.mjs", import.meta.url));
    const parent = spawn(
      process.execPath,
      [parentScript, AGENT_BIN, FUNCTIONS_FIXTURE, stderrFile],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let agentPid = 0;
    cleanups.push(() => {
      parent.kill("SIGKILL");
      if (agentPid > 0 && alive(agentPid)) process.kill(agentPid, "SIGKILL");
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      parent.stdout.setEncoding("utf8");
      parent.stdout.on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      parent.once("exit", (code) => reject(new Error(`parent exited early (${code})`)));
    });
    agentPid = (JSON.parse(line) as { agentPid: number }).agentPid;
    expect(alive(agentPid)).toBe(true);
    const killedAt = Date.now();
    parent.kill("SIGKILL");
    await expect
      .poll(() => !alive(agentPid), { timeout: 10_000, message: "the orphaned runner to exit" })
      .toBe(true);
    console.log(
      `orphaned flame-runner exited ${Date.now() - killedAt} ms after its parent was SIGKILLed`,
    );
    expect(readFileSync(stderrFile, "utf8").trim()).toMatch(/^flame-runner: parent link lost/m);
  });

  it("exits 0 on SIGTERM, telling the parent it is leaving", async () => {
    const parent = await fakeParent();
    const agent = AgentProcess.start(descriptor(parent));
    await parent.connected;
    agent.child.kill("SIGTERM");
    expect((await parent.next(isT("shutdown"))).reason).toBe("terminated");
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toBe("flame-runner: stopped by SIGTERM");
  });
});

describe("flame-runner crashing", () => {
  it("on threads, an unhandled rejection ends only its thread: the runner keeps serving", async () => {
    const parent = await fakeParent();
    const agent = AgentProcess.start(descriptor(parent, { maxConcurrency: 1 }), [
      "--entry",
      FUNCTIONS_FIXTURE,
      "--debug",
    ]);
    const ws = await parent.connected;
    ws.send(frame({ t: "call", id: 1, fn: "crashLater", args: input(null), timeoutMs: null }));
    expect(await parent.next(isT("result"))).toMatchObject({ id: 1, ok: true, value: "returned" });
    // The thread dies 1 ms later (a call sent meanwhile would share its fate); a replacement
    // serves the next call.
    await agent.stderrContains("nobody caught me");
    ws.send(frame({ t: "call", id: 2, fn: "add", args: input({ a: 2, b: 3 }), timeoutMs: null }));
    const second = await parent.next(
      (m): m is Extract<AnyMessage, { t: "result" }> => m.t === "result" && m.id === 2,
    );
    expect(second).toMatchObject({ ok: true, value: 5 });
    expect(agent.child.exitCode).toBe(null);
  });

  it("inline: exits 5 with the final line when function code leaves an unhandled rejection", async () => {
    const parent = await fakeParent();
    const agent = AgentProcess.start(
      descriptor(parent, { execution: { ...DEFAULT_EXECUTION, mode: "inline" } }),
    );
    const ws = await parent.connected;
    ws.send(frame({ t: "call", id: 1, fn: "crashLater", args: input(null), timeoutMs: null }));
    const end = await agent.exit();
    expect(end.code).toBe(5);
    expect(end.stderr).toContain("nobody caught me");
    expect(end.lastLine).toBe(
      "flame-runner: crashed: uncaught exception in function code: nobody caught me",
    );
  });
});

describe("flame-runner with malformed frames", () => {
  it("answers a malformed frame with an error for that id only; other calls complete", async () => {
    const parent = await fakeParent();
    AgentProcess.start(descriptor(parent));
    const ws = await parent.connected;
    const garbage = frame({ t: "call", id: 7, fn: "echo", args: input("x"), timeoutMs: null });
    garbage.fill(0xee, 8); // header intact: kind call, id 7; the envelope is garbage
    ws.send(garbage);
    // A sound envelope around an input the codec can't read.
    ws.send(
      frame({ t: "call", id: 9, fn: "echo", args: new Uint8Array([0xff, 0xee]), timeoutMs: null }),
    );
    ws.send(frame({ t: "call", id: 8, fn: "echo", args: input("fine"), timeoutMs: null }));
    ws.send(Buffer.from([1, 2, 3]));
    expect(
      await parent.next(
        (m): m is Extract<AnyMessage, { t: "error" }> => m.t === "error" && m.id === 7,
      ),
    ).toMatchObject({
      code: "PROTOCOL",
    });
    expect(
      await parent.next(
        (m): m is Extract<AnyMessage, { t: "result" }> => m.t === "result" && m.id === 9,
      ),
    ).toMatchObject({
      ok: false,
      error: { code: "SERIALIZATION" },
    });
    expect(
      await parent.next(
        (m): m is Extract<AnyMessage, { t: "result" }> => m.t === "result" && m.id === 8,
      ),
    ).toEqual({
      t: "result",
      id: 8,
      ok: true,
      value: "fine",
    });
    expect(
      await parent.next(
        (m): m is Extract<AnyMessage, { t: "error" }> => m.t === "error" && m.id === null,
      ),
    ).toMatchObject({
      code: "PROTOCOL",
    });
    // Still serving after all that.
    ws.send(frame({ t: "call", id: 10, fn: "add", args: input({ a: 1, b: 2 }), timeoutMs: null }));
    expect(
      await parent.next(
        (m): m is Extract<AnyMessage, { t: "result" }> => m.t === "result" && m.id === 10,
      ),
    ).toMatchObject({ ok: true, value: 3 });
  });

  it("fails a call that arrives already past its deadline with TIMEOUT", async () => {
    const parent = await fakeParent();
    AgentProcess.start(descriptor(parent));
    const ws = await parent.connected;
    ws.send(frame({ t: "call", id: 1, fn: "echo", args: input(1), timeoutMs: 0 }));
    const result = await parent.next(isT("result"));
    expect(result).toMatchObject({ id: 1, ok: false, error: { code: "TIMEOUT" } });
  });
});

describe("package", () => {
  it("reports the version in package.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(AGENT_VERSION).toBe(pkg.version);
  });
});

describe("flame-runner authentication", () => {
  it("never sends its token: its id and a fresh nonce first, its proof only after the parent's", async () => {
    const parent = await fakeParent();
    const d = descriptor(parent);
    AgentProcess.start(d);
    await parent.connected;
    const [challenge, upgrade] = parent.requests;
    expect(challenge?.upgrade).toBe(false);
    expect(challenge?.headers["x-flame-runner"]).toBe(d.runnerId);
    expect(challenge?.headers["x-flame-nonce"]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(challenge?.headers["x-flame-proof"]).toBeUndefined();
    expect(upgrade?.upgrade).toBe(true);
    expect(upgrade?.headers["x-flame-proof"]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const seen of [challenge, upgrade]) {
      expect(seen?.headers.authorization).toBeUndefined();
      expect(seen?.headers.origin).toBeUndefined();
    }
    expect(Buffer.concat(parent.bytesSeen).toString("latin1")).not.toContain(d.token);
  });

  for (const proof of ["omit", "forge"] as const) {
    it(`exits 4 without proving itself or saying hello when the parent cannot prove it holds the token (${proof})`, async () => {
      let hellos = 0;
      const parent = await fakeParent({
        proof,
        onHello: () => {
          hellos++;
        },
      });
      const d = descriptor(parent);
      const end = await AgentProcess.start(d).exit();
      expect(end.code).toBe(4);
      expect(end.lastLine).toMatch(
        /^flame-runner: the parent at ws:\/\/127\.0\.0\.1:\d+ did not prove it holds this runner's token/,
      );
      expect(hellos).toBe(0);
      expect(parent.requests.map((r) => r.upgrade)).toEqual([false]);
      expect(Buffer.concat(parent.bytesSeen).toString("latin1")).not.toContain(d.token);
    });
  }

  it("exits 4 naming both versions when the parent speaks another protocol", async () => {
    const another = PROTOCOL_VERSION + 1;
    const other = createHttpServer((_req, res) => {
      res.writeHead(426, { "x-flame-protocol": String(another), connection: "close" });
      res.end(`flame-ts runner port: protocol ${another} only\n`);
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => other.close(r)));
    const address = other.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const end = await AgentProcess.start(descriptor(`ws://127.0.0.1:${port}`)).exit();
    expect(end.code).toBe(4);
    expect(end.lastLine).toBe(
      `flame-runner: the parent at ws://127.0.0.1:${port} speaks flame-ts protocol ${another}, this runner ${PROTOCOL_VERSION}: run the same flame-ts version on both sides`,
    );
  });

  for (const mode of ["threads", "inline"] as const) {
    it(`removes FLAME_PARENT from the environment function code sees; FLAME_RUNNER=1 instead (${mode})`, async () => {
      const parent = await fakeParent();
      AgentProcess.start(descriptor(parent, { execution: { ...DEFAULT_EXECUTION, mode } }));
      const ws = await parent.connected;
      ws.send(frame({ t: "call", id: 1, fn: "runnerEnv", args: input(null), timeoutMs: null }));
      expect(await parent.next(isT("result"))).toMatchObject({
        id: 1,
        ok: true,
        value: { parent: null, runner: "1" },
      });
    });
  }
});
