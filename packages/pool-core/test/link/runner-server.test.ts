import { describe, expect, it, vi } from "vitest";
import { FlameError } from "../../src/errors.js";
import { type LinkLogLevel, RunnerConnection, RunnerServer } from "../../src/link/index.js";
import { encodeFrame, generateToken, v8Codec } from "../../src/protocol.js";
import { CLOSE_PROTOCOL } from "../../src/wire/index.js";
import { cleanups } from "./cleanups.js";
import { FakeRunner, handshake, isT } from "./fake-runner.js";
import { rejection } from "./rejection.js";
import { call, cast, linkEvents, startChild } from "./requests.js";

interface Logged {
  level: LinkLogLevel;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

async function setup(options: Parameters<typeof RunnerServer.listen>[0] = {}) {
  const logs: Logged[] = [];
  const server = await RunnerServer.listen({
    ...options,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  cleanups.push(() => server.close());
  return { server, logs };
}

async function connected(options: Parameters<typeof RunnerServer.listen>[0] = {}, autoPong = true) {
  const { server, logs } = await setup(options);
  const token = generateToken();
  const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
  const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token }, { autoPong });
  cleanups.push(() => runner.close());
  runner.hello("r1");
  const conn = await expecting;
  await runner.next(isT("welcome"));
  return { server, logs, runner, conn };
}

describe("RunnerServer handshake", () => {
  it("listens on 127.0.0.1 and advertises the URL runners dial", async () => {
    const { server } = await setup();
    expect(server.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const other = await RunnerServer.listen({ advertiseUrl: "ws://fdaa::3:4000" });
    cleanups.push(() => other.close());
    expect(other.url).toBe("ws://fdaa::3:4000");
  });

  it("hands over the connection on a valid hello and says welcome", async () => {
    const { conn, runner, logs } = await connected();
    expect(conn).toBeInstanceOf(RunnerConnection);
    expect(conn.runnerId).toBe("r1");
    expect([...conn.functions]).toEqual(["echo", "slow"]);
    const hello = logs.find((l) => l.msg === "runner said hello")?.fields;
    expect(hello).toMatchObject({ runnerId: "r1", agentVersion: "fake", pid: 1, host: "fake" });
    expect(runner.received[0]).toEqual({ t: "welcome", runnerId: "r1" });
  });

  it("refuses a wrong token at the upgrade (401, UNAUTHORIZED logged) and keeps waiting for the right one", async () => {
    const { server, logs } = await setup();
    const token = generateToken();
    const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
    const wrong = await handshake(server.url, { runnerId: "r1", token: generateToken() });
    expect(wrong.status).toBe(401);
    // Logged without the runner id the stranger sent (issue 22, row 9).
    expect(
      logs.some((l) => l.fields?.code === "UNAUTHORIZED" && l.fields.reason === "wrong proof"),
    ).toBe(true);
    const real = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => real.close());
    real.hello("r1");
    expect((await expecting).runnerId).toBe("r1");
  });

  it("closes an authenticated socket that sends garbage instead of a hello", async () => {
    const { server } = await setup();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const { ws } = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => ws.terminate());
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.send(Buffer.from("GET / HTTP/1.1 garbage"));
    expect(await closed).toBe(CLOSE_PROTOCOL);
  });

  it("closes a socket whose first message is not a hello", async () => {
    const { server } = await setup();
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => runner.close());
    runner.send({ t: "result", id: 1, ok: true, value: 1 });
    expect((await runner.closed).code).toBe(CLOSE_PROTOCOL);
  });

  it("rejects expect when its signal aborts, with the reason the host gave", async () => {
    const { server } = await setup();
    const ac = new AbortController();
    const waiting = server.expect("r9", generateToken(), ac.signal);
    ac.abort(new FlameError("BOOT_FAILED", "boot deadline passed"));
    const err = await rejection(waiting);
    expect(err.code).toBe("BOOT_FAILED");
    expect((await rejection(server.expect("r8", "t", AbortSignal.abort()))).code).toBe("ABORTED");
  });

  it("rejects pending expectations when it closes", async () => {
    const { server } = await setup();
    const waiting = server.expect("r1", "t", new AbortController().signal);
    await server.close();
    expect((await rejection(waiting)).code).toBe("BOOT_FAILED");
  });
});

describe("RunnerConnection", () => {
  it("matches results to calls by id, out of order", async () => {
    const { conn, runner } = await connected();
    const a = call(conn, "echo", "a", { timeoutMs: null });
    const b = call(conn, "echo", "b", { timeoutMs: null });
    const [ca, cb] = [await runner.next(isT("call")), runner.received.filter(isT("call"))[1]!];
    expect(conn.inflight).toBe(2);
    runner.send({ t: "result", id: cb.id, ok: true, value: "B" });
    runner.send({ t: "result", id: ca.id, ok: true, value: "A" });
    expect(await Promise.all([a, b])).toEqual(["A", "B"]);
    expect(conn.inflight).toBe(0);
  });

  it("refuses a function the runner did not report, without sending anything", async () => {
    const { conn, runner } = await connected();
    const err = await rejection(call(conn, "thumbnail", 1, { timeoutMs: null }));
    expect(err.code).toBe("UNKNOWN_FUNCTION");
    expect(err.message).toContain('"thumbnail"');
    const marker = call(conn, "echo", 1, { timeoutMs: null }); // a call that is sent
    const sent = await runner.next(isT("call"));
    runner.send({ t: "result", id: sent.id, ok: true, value: 1 });
    await marker;
    expect(sent.fn).toBe("echo");
    expect(runner.received.filter(isT("call"))).toHaveLength(1);
  });

  it("refuses an unencodable argument with SERIALIZATION before sending", async () => {
    const { conn, runner } = await connected();
    const err = await rejection(call(conn, "echo", { f: () => 1 }, { timeoutMs: null }));
    expect(err.code).toBe("SERIALIZATION");
    const ok = call(conn, "echo", "fine", { timeoutMs: null });
    const sent = await runner.next(isT("call"));
    expect(v8Codec.decode(sent.args)).toBe("fine");
    runner.send({ t: "result", id: sent.id, ok: true, value: "fine" });
    expect(await ok).toBe("fine");
  });

  it("refuses an oversize argument with SERIALIZATION before sending", async () => {
    const { conn } = await connected({ maxFrameBytes: 4096 });
    const err = await rejection(call(conn, "echo", new Uint8Array(10_000), { timeoutMs: null }));
    expect(err.code).toBe("SERIALIZATION");
    expect(err.message).toContain("4096-byte frame limit");
  });

  it("fails only the call whose result frame is malformed; the others complete", async () => {
    const { conn, runner } = await connected();
    const bad = call(conn, "echo", 1, { timeoutMs: null });
    const good = call(conn, "echo", 2, { timeoutMs: null });
    await runner.next(isT("call"));
    const [c1, c2] = runner.received.filter(isT("call"));
    const frame = encodeFrame({ t: "result", id: c1!.id, ok: true, value: "x" }, v8Codec, 1 << 20);
    frame.fill(0xee, 9); // header and flags intact, value garbage
    runner.ws.send(frame);
    runner.send({ t: "result", id: c2!.id, ok: true, value: 2 });
    const err = await rejection(bad);
    expect(err.code).toBe("SERIALIZATION");
    expect(await good).toBe(2);
  });

  it("maps a runner-reported error to a FlameError with the remote details", async () => {
    const { conn, runner } = await connected();
    const p = call(conn, "echo", 1, { timeoutMs: null });
    const c = await runner.next(isT("call"));
    runner.send({
      t: "result",
      id: c.id,
      ok: false,
      error: {
        code: "REMOTE_ERROR",
        name: "TypeError",
        message: "nope",
        stack: "TypeError: nope\n  at x",
      },
    });
    const err = await rejection(p);
    expect(err.code).toBe("REMOTE_ERROR");
    expect(err.remote).toEqual({
      name: "TypeError",
      message: "nope",
      stack: "TypeError: nope\n  at x",
    });
    expect(err.runnerId).toBe("r1");
  });

  it("aborts a call when its signal fires and tells the runner to cancel", async () => {
    const { conn, runner } = await connected();
    const ac = new AbortController();
    const p = call(conn, "slow", 1, { timeoutMs: null, signal: ac.signal });
    const c = await runner.next(isT("call"));
    ac.abort();
    expect((await rejection(p)).code).toBe("ABORTED");
    expect((await runner.next(isT("cancel"))).id).toBe(c.id);
    // The caller has its answer, but the slot stays taken until the runner's work stopped.
    expect(conn.inflight).toBe(1);
    runner.send({ t: "ended", id: c.id });
    await vi.waitFor(() => expect(conn.inflight).toBe(0));
  });

  it("cancels a sent request by telling the runner; an id it does not hold is unknown", async () => {
    const { conn, runner } = await connected();
    const id = conn.request(
      "call",
      "echo",
      1,
      { timeoutMs: null, traceparent: undefined },
      { resolve: () => {}, reject: () => {}, ended: () => {}, unqueued: () => {} },
    );
    expect(id).not.toBeNull();
    // Sent already (the socket was empty): the runner is told to cancel, an answer follows.
    expect(conn.cancel(id as number)).toBe("cancelled");
    expect((await runner.next(isT("cancel"))).id).toBe(id);
    expect(conn.cancel(12_345)).toBe("unknown");
  });

  it("reports its close once and answers nothing pending: failing those calls is the core's", async () => {
    const { conn, runner } = await connected();
    const answered: string[] = [];
    const reply = {
      resolve: () => answered.push("resolve"),
      reject: () => answered.push("reject"),
      ended: () => answered.push("ended"),
      unqueued: () => answered.push("unqueued"),
    };
    const closes: string[] = [];
    conn.attach({
      closed: (reason) => closes.push(reason),
      leaving: () => {},
      released: () => false,
    });
    conn.request("call", "slow", 1, { timeoutMs: null, traceparent: undefined }, reply);
    conn.request("child", "slow", 1, { timeoutMs: null, traceparent: undefined }, reply);
    await runner.next(isT("child.start"));
    runner.close();
    await conn.closed;
    expect(closes).toHaveLength(1);
    expect(conn.inflight).toBe(0);
    // A request on the closed link is not sent and not answered either.
    const late = conn.request(
      "call",
      "echo",
      1,
      { timeoutMs: null, traceparent: undefined },
      reply,
    );
    expect(late).toBeNull();
    expect(answered).toEqual([]);
  });

  it("reports a close that happened before anyone attached, at once", async () => {
    const { conn, runner } = await connected();
    runner.close();
    await conn.closed;
    const closes: string[] = [];
    conn.attach({
      closed: (reason) => closes.push(reason),
      leaving: () => {},
      released: () => false,
    });
    expect(closes).toHaveLength(1);
  });

  it("sees a silent runner (no pongs) as gone within the heartbeat bound", async () => {
    // The heartbeat on fake time. On real time a tick that comes over two intervals late is
    // taken for this process's own stall and judges nothing, so on a loaded machine a 100 ms
    // heartbeat kept a silent runner alive past the test's timeout.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    const { conn } = await connected(
      { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1_000 },
      false,
    );
    const { closed } = linkEvents(conn);
    let gone = false;
    void closed.then(() => {
      gone = true;
    });
    void call(conn, "slow", 1, { timeoutMs: null }).catch(() => {});
    vi.advanceTimersByTime(900);
    await new Promise((resolve) => setImmediate(resolve));
    expect(gone).toBe(false);
    // Silent since its hello (seen at the first tick): gone at the first tick past the bound.
    vi.advanceTimersByTime(300);
    expect(await closed).toMatch(/no heartbeat/);
    expect(conn.inflight).toBe(0);
  });

  it("runs casts and placed children to their reported end", async () => {
    const { conn, runner } = await connected();
    const casting = cast(conn, "echo", 1);
    const c = await runner.next(isT("cast"));
    runner.send({ t: "cast.done", id: c.id, ok: true });
    await expect(casting).resolves.toBeUndefined();
    const child = startChild(conn, "slow", 1);
    const s = await runner.next(isT("child.start"));
    child.stop();
    expect((await runner.next(isT("child.stop"))).id).toBe(s.id);
    runner.send({ t: "child.exit", id: s.id, ok: true, value: "stopped" });
    expect(await child.result).toBe("stopped");
  });

  it("reports the runner's leaving announcement and asks runners to shut down", async () => {
    const { conn, runner } = await connected();
    const { leaving } = linkEvents(conn);
    runner.send({ t: "shutdown", reason: "idle" });
    expect(await leaving).toBe("idle");
    conn.shutdown("pool stopping", 1234);
    expect(await runner.next(isT("shutdown"))).toEqual({
      t: "shutdown",
      reason: "pool stopping",
      timeoutMs: 1234,
    });
  });

  it("closes every connection when the server closes", async () => {
    const { server, conn, runner } = await connected();
    await server.close();
    await conn.closed;
    await runner.closed;
  });
});
