/**
 * A real flame-runner (built dist/) sends an answer over 1 MiB in `answer.part` frames
 * (protocol/answer-parts.ts, issue 22 row 2) and the parent puts it back together: counted
 * on the parent's side of the link as ws messages.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import {
  AgentProcess,
  descriptor,
  killAllAgents,
} from "../../../runner-agent/test/agent-process.js";
import { RunnerServer } from "../../src/link/index.js";
import { call } from "./requests.js";

const servers: RunnerServer[] = [];
afterEach(async () => {
  await killAllAgents();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("a real runner's large answer", () => {
  it("arrives as 1 MiB parts and is delivered whole; small answers stay one message", async () => {
    const server = await RunnerServer.listen();
    servers.push(server);
    const d = descriptor(server.url);
    const expecting = server.expect(d.runnerId, d.token, AbortSignal.timeout(20_000));
    AgentProcess.start(d);
    const conn = await expecting;
    // The link's socket is private: read here only to count what the runner sent.
    const ws = (conn as unknown as { ws: WebSocket }).ws;
    let messages = 0;
    ws.on("message", () => {
      messages++;
    });
    expect(await call(conn, "bytes", { length: 1000 }, { timeoutMs: null })).toHaveLength(1000);
    expect(messages).toBe(1);
    const length = 5 * 1024 * 1024 + 123;
    const bytes = (await call(conn, "bytes", { length }, { timeoutMs: null })) as Uint8Array;
    expect(bytes).toHaveLength(length);
    expect(bytes.every((b) => b === 7)).toBe(true);
    // 5 MiB and a little, plus the frame's header and flags: six parts.
    expect(messages - 1).toBe(6);
    expect(conn.heldAnswerBytes).toBe(0);
  });
});
