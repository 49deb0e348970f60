/**
 * RunnerServer against a real flame-runner process (built dist/, fixture functions in
 * packages/runner-agent/test/fixtures/functions.mjs).
 */
import { X509Certificate } from "node:crypto";
import { createServer } from "node:https";
import { afterEach, describe, expect, it } from "vitest";
import {
  AgentProcess,
  descriptor,
  killAllAgents,
} from "../../../runner-agent/test/agent-process.js";
import { type LinkLogLevel, type RunnerConnection, RunnerServer } from "../../src/link/index.js";
import { DEFAULT_EXECUTION } from "../../src/protocol/defaults.js";
import type { ParentDescriptor } from "../../src/wire/index.js";
import { rejection } from "./rejection.js";
import { call, cast, linkEvents, startChild } from "./requests.js";
import { hasOpenssl, selfSignedCert } from "./tls-cert.js";

const servers: RunnerServer[] = [];
afterEach(async () => {
  await killAllAgents();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Started {
  server: RunnerServer;
  agent: AgentProcess;
  conn: RunnerConnection;
  logs: Array<{ level: LinkLogLevel; msg: string; fields?: Record<string, unknown> | undefined }>;
}

async function start(
  overrides: Partial<ParentDescriptor> = {},
  serverOptions: Parameters<typeof RunnerServer.listen>[0] = {},
): Promise<Started> {
  const logs: Started["logs"] = [];
  const server = await RunnerServer.listen({
    ...serverOptions,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  servers.push(server);
  // Several calls at once on one thread: these tests send a call while others run (an echo as
  // a sync point, a cancel, a drain), which a runner with one slot would hold queued; one
  // thread, because waitForAbort/abortSeen and hold/release share module state.
  const d = descriptor(server.url, {
    maxConcurrency: 4,
    execution: { ...DEFAULT_EXECUTION, threads: 1 },
    ...overrides,
  });
  const expecting = server.expect(d.runnerId, d.token, AbortSignal.timeout(20_000));
  const agent = AgentProcess.start(d);
  const conn = await expecting;
  return { server, agent, conn, logs };
}

describe("flame-runner against RunnerServer", () => {
  it("says hello with its functions, pid and version, then serves calls with full fidelity", async () => {
    const { conn, agent, logs } = await start();
    expect(conn.functions.has("echo")).toBe(true);
    expect(conn.functions.has("waitForAbort")).toBe(true);
    const hello = logs.find((l) => l.msg === "runner said hello")?.fields;
    expect(hello).toMatchObject({
      runnerId: conn.runnerId,
      pid: agent.child.pid,
      agentVersion: "0.1.0",
    });
    const value = { at: new Date(5), m: new Map([["k", new Set([1n])]]), b: new Uint8Array([9]) };
    expect(await call(conn, "echo", value, { timeoutMs: null })).toEqual(value);
    const ctx = (await call(conn, "context", null, { timeoutMs: 60_000 })) as {
      runnerId: string;
      deadlineMs: number;
    };
    expect(ctx.runnerId).toBe(conn.runnerId);
    expect(ctx.deadlineMs).toBeGreaterThan(Date.now());
  });

  it("keeps 200 concurrent calls apart", async () => {
    const { conn } = await start();
    const inputs = Array.from({ length: 200 }, (_, i) => ({ a: i, b: i * 1000 }));
    const results = await Promise.all(inputs.map((x) => call(conn, "add", x, { timeoutMs: null })));
    expect(results).toEqual(inputs.map((x) => x.a + x.b));
    expect(conn.inflight).toBe(0);
  });

  it("a runner with the wrong token finds the parent unproven: it exits 4 having proved nothing", async () => {
    const logs: Started["logs"] = [];
    const server = await RunnerServer.listen({
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
    });
    servers.push(server);
    const d = descriptor(server.url);
    const expecting = server.expect(d.runnerId, "the-right-token", AbortSignal.timeout(20_000));
    expecting.catch(() => {});
    const agent = AgentProcess.start(d);
    const end = await agent.exit();
    expect(end.code).toBe(4);
    // The parent's proof is under the right token, so it fails the runner's check, and the
    // runner stops before it sends an upgrade: the parent has nothing to refuse.
    expect(end.lastLine).toMatch(
      /^flame-runner: the parent at ws:\/\/\S+ did not prove it holds this runner's token/,
    );
    expect(logs.some((l) => l.fields?.code === "UNAUTHORIZED")).toBe(false);
  });

  it("turns a remote throw into REMOTE_ERROR with the remote name, message and stack", async () => {
    const { conn } = await start();
    const err = await rejection(call(conn, "fail", { message: "bad pixel" }, { timeoutMs: null }));
    expect(err.code).toBe("REMOTE_ERROR");
    expect(err.remote?.name).toBe("TypeError");
    expect(err.remote?.message).toBe("bad pixel");
    expect(err.remote?.stack).toContain("functions.mjs");
    expect(await call(conn, "echo", "still serving", { timeoutMs: null })).toBe("still serving");
  });

  it("refuses an unknown function without sending it", async () => {
    const { conn } = await start();
    const err = await rejection(call(conn, "not-defined", 1, { timeoutMs: null }));
    expect(err.code).toBe("UNKNOWN_FUNCTION");
    expect(conn.inflight).toBe(0);
  });

  it("fails a call at its deadline with TIMEOUT, and the function saw its signal abort", async () => {
    const { conn } = await start();
    const err = await rejection(call(conn, "waitForAbort", { tag: "t1" }, { timeoutMs: 300 }));
    expect(err.code).toBe("TIMEOUT");
    expect(await call(conn, "abortSeen", { tag: "t1" }, { timeoutMs: null })).toMatchObject({
      code: "TIMEOUT",
    });
  });

  it("hands a function that reads ctx.signal only after its deadline an already-aborted signal", async () => {
    const { conn } = await start();
    const err = await rejection(
      call(conn, "readSignalLate", { tag: "late", waitMs: 400 }, { timeoutMs: 100 }),
    );
    expect(err.code).toBe("TIMEOUT");
    // The runner keeps the call until the function returns, then records what it saw.
    let seen: unknown = null;
    for (let i = 0; i < 50 && seen === null; i++) {
      seen = await call(conn, "abortSeen", { tag: "late" }, { timeoutMs: null });
      if (seen === null) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen).toEqual({ aborted: true, code: "TIMEOUT" });
  });

  it("cancels a running call when the caller's signal aborts: ABORTED, and the function sees it", async () => {
    const { conn } = await start();
    const ac = new AbortController();
    const running = call(
      conn,
      "waitForAbort",
      { tag: "c1" },
      { timeoutMs: null, signal: ac.signal },
    );
    // A round trip after the call was sent proves the runner has started it.
    await call(conn, "echo", 0, { timeoutMs: null });
    ac.abort();
    expect((await rejection(running)).code).toBe("ABORTED");
    expect(await call(conn, "abortSeen", { tag: "c1" }, { timeoutMs: null })).toMatchObject({
      code: "ABORTED",
    });
  });

  it("answers an oversize frame with SERIALIZATION for that call only", async () => {
    // The runner accepts 4 KiB frames; the parent sends more.
    const { conn } = await start({ maxFrameBytes: 4096 });
    const err = await rejection(call(conn, "echo", new Uint8Array(10_000), { timeoutMs: null }));
    expect(err.code).toBe("SERIALIZATION");
    expect(err.message).toContain("4096");
    // A result too large for the runner's limit fails that call only, too.
    const big = await rejection(call(conn, "bytes", { length: 10_000 }, { timeoutMs: null }));
    expect(big.code).toBe("SERIALIZATION");
    // And an unencodable result.
    expect((await rejection(call(conn, "unencodable", null, { timeoutMs: null }))).code).toBe(
      "SERIALIZATION",
    );
    expect(await call(conn, "echo", "ok", { timeoutMs: null })).toBe("ok");
  });

  it("runs casts to cast.done", async () => {
    const { conn } = await start();
    await expect(cast(conn, "echo", 1)).resolves.toBeUndefined();
    expect((await rejection(cast(conn, "fail", { message: "cast failed" }))).code).toBe(
      "REMOTE_ERROR",
    );
  });

  it("starts, stops and reports placed children; the runner keeps serving", async () => {
    const { conn } = await start();
    const child = startChild(conn, "ticker", {});
    expect(await call(conn, "echo", "alongside", { timeoutMs: null })).toBe("alongside");
    expect(conn.inflight).toBe(1);
    child.stop();
    expect(await child.result).toEqual({ stopped: true, code: "ABORTED" });
    expect(conn.inflight).toBe(0);
  });

  it("drains in-flight calls on shutdown, refuses new ones, then exits 0", async () => {
    const { conn, agent } = await start();
    const inFlight = call(conn, "slow", { ms: 300, value: "finished" }, { timeoutMs: null });
    const child = startChild(conn, "ticker", {});
    await call(conn, "echo", 0, { timeoutMs: null }); // both have reached the runner
    conn.shutdown("pool stopping", 10_000);
    const late = rejection(call(conn, "echo", "late", { timeoutMs: null }));
    expect(await inFlight).toBe("finished");
    expect(await child.result).toEqual({ stopped: true, code: "ABORTED" });
    expect((await late).code).toBe("RUNNER_DOWN");
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toBe("flame-runner: asked to shut down (pool stopping)");
    await conn.closed;
  });

  it("bounds the drain by the shutdown timeout", async () => {
    const { conn, agent } = await start();
    const events = linkEvents(conn);
    void call(conn, "hold", { key: "never" }, { timeoutMs: null }).catch(() => {});
    await call(conn, "echo", 0, { timeoutMs: null });
    conn.shutdown("stop now", 200);
    // The link reports its close; failing the call still on it is the core's (RUNNER_DOWN).
    expect(await events.closed).toBeTruthy();
    expect(conn.inflight).toBe(0);
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toContain("drain bound of 200 ms reached");
  });

  it("single use: announces single_use and exits 0 after its one call", async () => {
    const { conn, agent } = await start({ singleUse: true });
    const { leaving } = linkEvents(conn);
    expect(await call(conn, "echo", "once", { timeoutMs: null })).toBe("once");
    expect(await leaving).toBe("single_use");
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toBe("flame-runner: single use: its one task ended");
  });

  it("exits 0 after idleShutdownAfterMs with no work, announcing idle", async () => {
    const { conn, agent } = await start({ idleShutdownAfterMs: 300 });
    const { leaving } = linkEvents(conn);
    expect(await leaving).toBe("idle");
    const end = await agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toBe("flame-runner: idle for 300 ms");
  });

  it("exits 3 when the parent closes the link; the link reports its close", async () => {
    const { server, conn, agent } = await start();
    const events = linkEvents(conn);
    void call(conn, "hold", { key: "k" }, { timeoutMs: null }).catch(() => {});
    await call(conn, "echo", 0, { timeoutMs: null });
    await server.close();
    expect(await events.closed).toBe("parent closed the runner server");
    expect(conn.inflight).toBe(0);
    const end = await agent.exit();
    expect(end.code).toBe(3);
    expect(end.lastLine).toMatch(/^flame-runner: parent link lost/);
  });

  it("sees the runner die: SIGKILL mid-call → the link reports its close", async () => {
    const { conn, agent } = await start();
    const events = linkEvents(conn);
    void call(conn, "hold", { key: "k" }, { timeoutMs: null }).catch(() => {});
    await call(conn, "echo", 0, { timeoutMs: null });
    agent.child.kill("SIGKILL");
    expect((await events.closed).length).toBeGreaterThan(0);
    expect(conn.inflight).toBe(0);
  });

  it.skipIf(!hasOpenssl)(
    "wss: the runner pins the certificate from its descriptor and serves over TLS",
    async () => {
      const tls = selfSignedCert();
      const { server, conn } = await start(
        { tlsCertSha256: new X509Certificate(tls.cert).fingerprint256 },
        { tls },
      );
      expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      expect(server.tlsCertSha256).toBe(new X509Certificate(tls.cert).fingerprint256);
      expect(await call(conn, "echo", { over: "tls" }, { timeoutMs: null })).toEqual({
        over: "tls",
      });
    },
  );

  it.skipIf(!hasOpenssl)(
    "wss: a parent with another certificate never sees the token; the runner exits 4",
    async () => {
      const pinned = selfSignedCert();
      const impostorCert = selfSignedCert();
      let requests = 0;
      const impostor = createServer(impostorCert);
      impostor.on("request", () => requests++);
      impostor.on("upgrade", (_req, socket) => {
        requests++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
      const address = impostor.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      try {
        const d = descriptor(`wss://127.0.0.1:${port}`, {
          tlsCertSha256: new X509Certificate(pinned.cert).fingerprint256,
        });
        const end = await AgentProcess.start(d).exit();
        expect(end.code).toBe(4);
        expect(end.lastLine).toMatch(
          /^flame-runner: parent's TLS certificate .* is not the pinned /,
        );
        expect(requests).toBe(0);
      } finally {
        impostor.closeAllConnections();
        await new Promise((resolve) => impostor.close(resolve));
      }
    },
  );
});
