/**
 * Taking back a call a runner holds queued (protocol 9, issue 23's prefetch): the parent asks
 * with `unqueue` while the request is pending and unanswered; the runner's `unqueued` ends the
 * request with no answer (its slot on that link is free, the reply hears `unqueued()`). An
 * `unqueued` about nothing pending is a race, ignored; one the parent never asked for, or
 * after the answer began arriving, fails that call as a malformed answer would.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import type { RunnerConnection, RunnerServer } from "../../src/link/index.js";
import { splitAnswerFrame } from "../../src/protocol/answer-parts.js";
import type { AnyMessage } from "../../src/protocol.js";
import { cleanups } from "./cleanups.js";
import { type FakeRunner, isT } from "./fake-runner.js";
import { frameOf, connected as setup } from "./hostile-runner-setup.js";
import { call, linkEvents, startChild } from "./requests.js";

const connected = (options: Parameters<typeof RunnerServer.listen>[0] = {}) =>
  setup(cleanups, options);

const MIB = 1024 * 1024;

/** A call request whose reply records what it heard; `over` settles at the first word. */
function request(conn: RunnerConnection, fn: string, args: unknown) {
  const heard: string[] = [];
  let hear: (what: string) => void = () => {};
  const over = new Promise<string>((resolve) => {
    hear = (what) => {
      heard.push(what);
      resolve(what);
    };
  });
  const id = conn.request(
    "call",
    fn,
    args,
    { timeoutMs: null, traceparent: undefined },
    {
      resolve: (value) => hear(`resolve ${String(value)}`),
      reject: (error) => hear(`reject ${(error as FlameError).code}`),
      ended: () => hear("ended"),
      unqueued: () => hear("unqueued"),
    },
  );
  if (id === null) throw new Error("the call was not sent");
  return { id, heard, over };
}

type CallMessage = Extract<AnyMessage, { t: "call" }>;

/** A call answered at once: when it settles, every frame sent before it was handled. */
async function probe(conn: RunnerConnection, runner: FakeRunner): Promise<unknown> {
  const seen = new Set(runner.received.filter(isT("call")).map((m) => m.id));
  const answer = call(conn, "echo", "probe");
  const sent = await runner.next((m): m is CallMessage => m.t === "call" && !seen.has(m.id));
  runner.send({ t: "result", id: sent.id, ok: true, value: "seen" });
  return answer;
}

describe("unqueue", () => {
  it("asks the runner for a pending call; its `unqueued` ends the request with no answer", async () => {
    const { runner, conn } = await connected();
    const asked = request(conn, "slow", 1);
    await runner.next(isT("call"));
    expect(conn.inflight).toBe(1);
    conn.unqueue(asked.id);
    expect(await runner.next(isT("unqueue"))).toEqual({ t: "unqueue", id: asked.id });
    // Asking changes nothing yet: the runner may have started it, and then it answers.
    expect(conn.inflight).toBe(1);
    runner.send({ t: "unqueued", id: asked.id });
    expect(await asked.over).toBe("unqueued");
    expect(conn.inflight).toBe(0);
    // Nothing is owed any more: a late answer for it is dropped, the reply hears nothing more.
    runner.send({ t: "result", id: asked.id, ok: true, value: "late" });
    expect(await probe(conn, runner)).toBe("seen");
    expect(asked.heard).toEqual(["unqueued"]);
  });

  it("a call the runner had started answers as usual after the ask", async () => {
    const { runner, conn } = await connected();
    const asked = request(conn, "slow", 1);
    await runner.next(isT("call"));
    conn.unqueue(asked.id);
    await runner.next(isT("unqueue"));
    runner.send({ t: "result", id: asked.id, ok: true, value: "ran" });
    expect(await asked.over).toBe("resolve ran");
    expect(conn.inflight).toBe(0);
  });

  it("sends nothing for a call already answered, an id never sent, or a placed child", async () => {
    const { runner, conn } = await connected();
    const answered = request(conn, "echo", 1);
    const sent = await runner.next(isT("call"));
    runner.send({ t: "result", id: sent.id, ok: true, value: 1 });
    expect(await answered.over).toBe("resolve 1");
    conn.unqueue(answered.id);
    conn.unqueue(12_345);
    startChild(conn, "slow", 1);
    const child = await runner.next(isT("child.start"));
    conn.unqueue(child.id);
    // Frames go out in order: had any `unqueue` been sent, it would be there before the probe.
    expect(await probe(conn, runner)).toBe("seen");
    expect(runner.received.filter(isT("unqueue"))).toEqual([]);
    expect(conn.inflight).toBe(1); // the child, still running
  });

  it("ignores an `unqueued` for nothing pending (a race), with a debug log; the link stays up", async () => {
    const { runner, conn, logs } = await connected();
    const { closed } = linkEvents(conn);
    let closedWith: string | null = null;
    void closed.then((reason) => {
      closedWith = reason;
    });
    const answered = request(conn, "echo", 1);
    const sent = await runner.next(isT("call"));
    runner.send({ t: "result", id: sent.id, ok: true, value: 1 });
    await answered.over;
    // More of them than the link's allowance of frames it has no use for: none is counted.
    for (let i = 0; i < 5; i++) runner.send({ t: "unqueued", id: sent.id });
    runner.send({ t: "unqueued", id: 777 });
    expect(await probe(conn, runner)).toBe("seen");
    expect(closedWith).toBeNull();
    expect(answered.heard).toEqual(["resolve 1"]);
    const ignored = logs.filter((l) => l.msg.includes("gave back a request nothing waits for"));
    expect(ignored).toHaveLength(6);
    expect(ignored.every((l) => l.level === "debug")).toBe(true);
    expect(ignored.at(-1)?.fields).toMatchObject({ runnerId: "r1", id: 777 });
  });

  it("fails a call given back without being asked (PROTOCOL); the link and other calls go on", async () => {
    const { runner, conn } = await connected();
    const failing = call(conn, "slow", 1).catch((e: unknown) => e);
    const sent = await runner.next(isT("call"));
    runner.send({ t: "unqueued", id: sent.id });
    const error = await failing;
    expect(error).toBeInstanceOf(FlameError);
    expect(error).toMatchObject({ code: "PROTOCOL", runnerId: "r1" });
    expect((error as FlameError).message).toMatch(/not asked/);
    expect(conn.inflight).toBe(0);
    expect(await probe(conn, runner)).toBe("seen");
  });

  it("fails a call whose answer had begun arriving in parts when it is given back (PROTOCOL)", async () => {
    const { runner, conn } = await connected();
    const asked = request(conn, "slow", null);
    const sent = await runner.next(isT("call"));
    conn.unqueue(asked.id);
    await runner.next(isT("unqueue"));
    const value = new Uint8Array(3 * MIB).fill(7);
    const parts = splitAnswerFrame(frameOf({ t: "result", id: sent.id, ok: true, value }), MIB);
    expect(parts.length).toBeGreaterThan(1);
    runner.ws.send(parts[0] as Uint8Array);
    runner.send({ t: "unqueued", id: sent.id });
    expect(await asked.over).toBe("reject PROTOCOL");
    expect(conn.inflight).toBe(0);
    // The rest of the answer reaches nobody; the link goes on.
    for (const part of parts.slice(1)) runner.ws.send(part);
    expect(await probe(conn, runner)).toBe("seen");
    expect(asked.heard).toEqual(["reject PROTOCOL"]);
    expect(conn.heldAnswerBytes).toBe(0);
  });

  it("gives back at once a request still waiting to be sent: it never leaves this process", async () => {
    const { server, runner, conn } = await connected({
      sendHighWaterBytes: MIB,
      maxQueuedSends: 4,
      maxFrameBytes: 4 * MIB,
    });
    (runner.ws as unknown as { _socket: Socket })._socket.pause();
    const payload = new Uint8Array(MIB / 4).fill(2);
    const budget = (
      [...(server as unknown as { connections: Set<unknown> }).connections][0] as {
        budget: { waitingCount: number };
      }
    ).budget;
    // Fill the socket until one request waits in the budget.
    let last: ReturnType<typeof request> | null = null;
    for (let i = 0; i < 2_000 && budget.waitingCount === 0; i++) {
      last = request(conn, "echo", payload);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (last === null) throw new Error("nothing was requested");
    expect(budget.waitingCount).toBe(1);
    const inflightBefore = conn.inflight;
    conn.unqueue(last.id);
    // Synchronously: withdrawn from the budget, given back, the request is over.
    expect(last.heard).toEqual(["unqueued"]);
    expect(budget.waitingCount).toBe(0);
    expect(conn.inflight).toBe(inflightBefore - 1);
  });
});
