/**
 * Tracked values (ctx.track) on a real flame-runner, driven by a hand-made parent: what the
 * parent sees on the wire, and when each dispose runs (every dispose appends a line to a log
 * file the test reads). Both executors: worker threads (the default) and inline.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AnyMessage, DEFAULT_EXECUTION } from "@flame-ts/pool-core/protocol";
import { type ParentDescriptor, TRACKED_KEY } from "@flame-ts/pool-core/wire";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AgentProcess, descriptor, killAllAgents } from "./agent-process.js";
import { FakeParent, frame, input } from "./fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Mode = "threads" | "inline";
type Result = Extract<AnyMessage, { t: "result" }>;
type Released = Extract<AnyMessage, { t: "released" }>;

/** A runner in `mode` (threads: `threads` of them) welcomed by a fake parent, and a dispose log. */
async function runner(mode: Mode, threads = 1, overrides: Partial<ParentDescriptor> = {}) {
  const parent = await FakeParent.listen();
  cleanups.push(() => parent.close());
  const d = descriptor(parent, {
    execution: { ...DEFAULT_EXECUTION, mode, threads: mode === "threads" ? threads : null },
    // A holder keeps its slot until released (as the parent's core counts it): room for the
    // unpinned calls a test sends beside the holders it keeps, or they would wait queued.
    maxConcurrency: 4,
    ...overrides,
  });
  const agent = AgentProcess.start(d);
  // A runner that ends before it connects fails the test with its own account, not a timeout.
  const ws = await Promise.race([
    parent.connected,
    agent.ended.then((end): never => {
      throw new Error(`flame-runner ended before connecting (code ${end.code}): ${end.stderr}`);
    }),
  ]);
  const log = join(mkdtempSync(join(tmpdir(), "flame-tracked-")), "dispose.log");
  const ref = (group: number, index: number) => ({
    [TRACKED_KEY]: `${d.runnerId}/${group}/${index}`,
  });
  return {
    parent,
    agent,
    log,
    ref,
    runnerId: d.runnerId,
    call(id: number, fn: string, args: unknown, on?: number): void {
      const base = { t: "call" as const, id, fn, args: input(args), timeoutMs: null };
      ws.send(frame(on === undefined ? base : { ...base, on }));
    },
    send(msg: AnyMessage): void {
      ws.send(frame(msg));
    },
    result(id: number): Promise<Result> {
      return parent.next((m): m is Result => m.t === "result" && m.id === id);
    },
    released(id: number, index: number): Promise<Released> {
      return parent.next(
        (m): m is Released => m.t === "released" && m.id === id && m.index === index,
      );
    },
    /** The dispose log's lines, in the order they were written. */
    lines(): string[] {
      return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    },
  };
}

const open = (log: string, tag: string, more: Record<string, unknown> = {}) => ({
  log,
  tag,
  ...more,
});

describe.each(["threads", "inline"] as const)("tracked values (%s)", (mode) => {
  it("a result carrying its references is flagged tracked, carries exactly the references, and nothing is disposed", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "a", { count: 2 }));
    const result = await r.result(1);
    expect(result).toMatchObject({ ok: true, tracked: true });
    const { kept } = (result as { value: { kept: object[] } }).value;
    expect(kept).toEqual([r.ref(1, 0), r.ref(1, 1)]);
    // Only the reference travels: one own property each.
    expect(kept.map((k) => Object.keys(k))).toEqual([[TRACKED_KEY], [TRACKED_KEY]]);
    expect(r.lines()).toEqual([]);
  });

  it("values the result does not carry are disposed before it is answered; a result that carries none is not flagged", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "b", { count: 3, carry: 1 }));
    const one = await r.result(1);
    expect(one).toMatchObject({ ok: true, tracked: true, value: { kept: [r.ref(1, 0)] } });
    expect(r.lines()).toEqual(["disposed b/1 n=0", "disposed b/2 n=0"]);
    r.call(2, "openCounters", open(r.log, "c", { carry: "none" }));
    const none = await r.result(2);
    expect(none).toEqual({
      t: "result",
      id: 2,
      ok: true,
      value: { kept: [], threadId: expect.any(Number) },
    });
    expect(r.lines()).toContain("disposed c/0 n=0");
  });

  it("a function that throws has every value it tracked disposed", async () => {
    const r = await runner(mode);
    r.call(1, "openThenThrow", open(r.log, "t"));
    expect(await r.result(1)).toMatchObject({
      ok: false,
      error: { code: "REMOTE_ERROR", message: "failed after tracking" },
    });
    expect(r.lines()).toEqual(["disposed t/0", "disposed t/1"]);
  });

  it("a call past its deadline has what it tracked afterwards disposed: the parent never sees it", async () => {
    const r = await runner(mode);
    r.send({
      t: "call",
      id: 1,
      fn: "openLate",
      args: input(open(r.log, "late", { ms: 300 })),
      timeoutMs: 50,
    });
    expect(await r.result(1)).toMatchObject({
      ok: false,
      answeredEarly: true,
      error: { code: "TIMEOUT" },
    });
    await r.parent.next((m): m is AnyMessage => m.t === "ended" && m.id === 1);
    await vi.waitFor(() => expect(r.lines()).toEqual(["disposed late"]), { timeout: 10_000 });
  });

  it("pinned calls run where the value lives and ctx.get gives the live object (a counter that counts across calls)", async () => {
    const r = await runner(mode, 3);
    r.call(1, "openCounters", open(r.log, "p"));
    const opened = (await r.result(1)) as { value: { threadId: number } };
    const seen: Array<{ n: number; threadId: number }> = [];
    for (const id of [2, 3, 4]) {
      r.call(id, "bump", { handle: r.ref(1, 0) }, 1);
      const bumped = (await r.result(id)) as { value: { n: number; threadId: number } };
      seen.push(bumped.value);
    }
    expect(seen.map((s) => s.n)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((s) => s.threadId))).toEqual(new Set([opened.value.threadId]));
  });

  it("ctx.get of a value not held here throws RESOURCE_GONE naming the reference", async () => {
    const r = await runner(mode);
    r.call(1, "bump", { handle: r.ref(99, 0) });
    const result = await r.result(1);
    expect(result).toMatchObject({ ok: false, error: { name: "FlameError(RESOURCE_GONE)" } });
    expect((result as { error: { message: string } }).error.message).toContain(
      `${r.runnerId}/99/0`,
    );
  });

  it("a call pinned to a group the runner does not hold answers RESOURCE_GONE without running", async () => {
    const r = await runner(mode);
    r.call(1, "openThenThrow", open(r.log, "x"), 42);
    expect(await r.result(1)).toMatchObject({ ok: false, error: { code: "RESOURCE_GONE" } });
    // It did not run: it would have tracked and disposed two values.
    expect(r.lines()).toEqual([]);
  });

  it("release disposes the value and answers released; a repeated or unknown release is answered too; the group goes once all are released", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "r", { count: 2 }));
    await r.result(1);
    r.send({ t: "release", id: 1, index: 0 });
    expect(await r.released(1, 0)).toEqual({ t: "released", id: 1, index: 0 });
    expect(r.lines()).toEqual(["disposed r/0 n=0"]);
    r.send({ t: "release", id: 1, index: 0 });
    r.send({ t: "release", id: 77, index: 3 });
    expect(await r.released(77, 3)).toEqual({ t: "released", id: 77, index: 3 });
    expect(r.parent.received.filter((m) => m.t === "released" && m.id === 1)).toHaveLength(2);
    // Index 1 still lives: pinned calls run.
    r.call(2, "bump", { handle: r.ref(1, 1) }, 1);
    expect(await r.result(2)).toMatchObject({ ok: true, value: { n: 1 } });
    r.send({ t: "release", id: 1, index: 1 });
    await r.released(1, 1);
    expect(r.lines()).toEqual(["disposed r/0 n=0", "disposed r/1 n=1"]);
    r.call(3, "bump", { handle: r.ref(1, 1) }, 1);
    expect(await r.result(3)).toMatchObject({ ok: false, error: { code: "RESOURCE_GONE" } });
  });

  it("a dispose that throws is reported in released.error", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "f", { failIndex: 0 }));
    await r.result(1);
    r.send({ t: "release", id: 1, index: 0 });
    expect(await r.released(1, 0)).toMatchObject({
      error: { code: "REMOTE_ERROR", message: "dispose of f/0 failed on purpose" },
    });
    expect((await r.released(1, 0)).lost).toBeUndefined();
  });

  it("a release arriving while a pinned call on the value runs is disposed after that call ends, and reported after its answer", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "g"));
    await r.result(1);
    r.call(2, "bumpAfterGate", { handle: r.ref(1, 0), key: "g", log: r.log }, 1);
    await vi.waitFor(() => expect(r.lines()).toEqual(["pinned start"]), { timeout: 10_000 });
    r.send({ t: "release", id: 1, index: 0 });
    // Opens the gate (one thread: it runs beside the pinned call).
    r.call(3, "release", { key: "g", value: null });
    await r.released(1, 0);
    expect(r.lines()).toEqual(["pinned start", "pinned end n=1", "disposed g/0 n=1"]);
    const order = r.parent.received.map((m) => `${m.t}:${"id" in m ? m.id : ""}`);
    expect(order.indexOf("result:2")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("result:2")).toBeLessThan(order.indexOf("released:1"));
  });

  it("a cast can't track: ctx.track throws a TypeError", async () => {
    const r = await runner(mode);
    r.send({ t: "cast", id: 1, fn: "trackHere", args: input(null) });
    const done = await r.parent.next(
      (m): m is Extract<AnyMessage, { t: "cast.done" }> => m.t === "cast.done" && m.id === 1,
    );
    expect(done).toMatchObject({
      ok: false,
      error: {
        name: "TypeError",
        message: expect.stringContaining("only a call's result can carry tracked values"),
      },
    });
  });

  it("shutdown: every value is disposed before the process exits", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "s1", { count: 2 }));
    r.call(2, "openCounters", open(r.log, "s2"));
    await r.result(1);
    await r.result(2);
    r.send({ t: "shutdown", reason: "test", timeoutMs: 5_000 });
    expect((await r.agent.exit()).code).toBe(0);
    expect(r.lines().sort()).toEqual([
      "disposed s1/0 n=0",
      "disposed s1/1 n=0",
      "disposed s2/0 n=0",
    ]);
  });

  it("a dispose that never ends does not keep the runner past the shutdown bound", async () => {
    const r = await runner(mode, 1, { shutdownTimeoutMs: 300 });
    r.call(1, "openCounters", open(r.log, "h", { count: 2, hangIndex: 0 }));
    await r.result(1);
    r.send({ t: "shutdown", reason: "test", timeoutMs: 300 });
    const end = await r.agent.exit();
    expect(end.code).toBe(0);
    expect(end.lastLine).toBe("flame-runner: asked to shut down (test)");
    expect(r.lines().sort()).toEqual(["disposed h/1 n=0", "disposing h/0 (hangs)"]);
  });

  it("a lost link: every value is disposed before the process exits", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "l"));
    await r.result(1);
    await r.parent.close();
    expect((await r.agent.exit()).code).toBe(3);
    expect(r.lines()).toEqual(["disposed l/0 n=0"]);
  });

  it("SIGTERM: every value is disposed before the process exits", async () => {
    const r = await runner(mode);
    r.call(1, "openCounters", open(r.log, "k"));
    await r.result(1);
    r.agent.child.kill("SIGTERM");
    expect((await r.agent.exit()).code).toBe(0);
    expect(r.lines()).toEqual(["disposed k/0 n=0"]);
  });
});

describe("tracked values on worker threads", () => {
  it("inside the function a reference has only the reference as own key, knows its runner, and can't be released there", async () => {
    const r = await runner("threads");
    r.call(1, "inspectReference", null);
    expect(await r.result(1)).toEqual({
      t: "result",
      id: 1,
      ok: true,
      tracked: true,
      value: {
        ref: r.ref(1, 0),
        keys: [TRACKED_KEY],
        runnerId: r.runnerId,
        before: false,
        releaseError: expect.stringContaining("released by its caller"),
      },
    });
  });

  it("ctx.track after the call answered throws a TypeError", async () => {
    const r = await runner("threads");
    r.call(1, "trackAfterAnswer", null);
    expect(await r.result(1)).toEqual({ t: "result", id: 1, ok: true, value: "answered" });
    r.call(2, "lateTrackSeen", null);
    expect(await r.result(2)).toMatchObject({
      ok: true,
      value: expect.stringMatching(/^TypeError: ctx.track after the call answered/),
    });
  });

  it("a runner holding a value outlives its idle bound (pinned calls still run), and idles out once it is released", async () => {
    const r = await runner("threads", 1, { idleShutdownAfterMs: 200 });
    r.call(1, "openCounters", open(r.log, "i"));
    await r.result(1);
    // Several idle bounds pass: the runner must still be there to serve a pinned call.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    r.call(2, "bump", { handle: r.ref(1, 0) }, 1);
    expect(await r.result(2)).toMatchObject({ ok: true, value: { n: 1 } });
    r.send({ t: "release", id: 1, index: 0 });
    const end = await r.agent.exit();
    expect(end.lastLine).toBe("flame-runner: idle for 200 ms");
    expect(r.lines()).toEqual(["disposed i/0 n=1"]);
  });

  it("ctx.get in another thread than the holder's throws RESOURCE_GONE (unpinned calls go elsewhere)", async () => {
    const r = await runner("threads", 2);
    r.call(1, "openCounters", open(r.log, "o"));
    await r.result(1);
    // The least-loaded thread without tracked values takes it.
    r.call(2, "bump", { handle: r.ref(1, 0) });
    expect(await r.result(2)).toMatchObject({
      ok: false,
      error: { name: "FlameError(RESOURCE_GONE)" },
    });
  });

  it("a thread that crashes loses its values: released … lost for each, no dispose, later pinned calls RESOURCE_GONE", async () => {
    const r = await runner("threads", 2);
    r.call(1, "openCounters", open(r.log, "c", { count: 2 }));
    await r.result(1);
    r.call(2, "crashThread", null, 1);
    expect(await r.result(2)).toMatchObject({
      ok: false,
      error: { message: "thread crashed on purpose" },
    });
    expect(await r.released(1, 0)).toEqual({ t: "released", id: 1, index: 0, lost: true });
    expect(await r.released(1, 1)).toEqual({ t: "released", id: 1, index: 1, lost: true });
    r.call(3, "bump", { handle: r.ref(1, 0) }, 1);
    expect(await r.result(3)).toMatchObject({ ok: false, error: { code: "RESOURCE_GONE" } });
    expect(r.lines()).toEqual([]);
  });
});
