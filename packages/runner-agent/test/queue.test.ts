/**
 * A real flame-runner with maxConcurrency 1, sent calls beyond it (protocol 9): they wait
 * queued, start only once a slot frees, and can be taken back (`unqueue`). The calls run
 * `gated` (fixtures/functions.mjs), which logs its start and end to a file and waits on an
 * HTTP server of this test's: the test decides when each ends, and the log says in which order
 * functions really ran. Both executors: worker threads (the default) and inline.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AnyMessage, DEFAULT_EXECUTION } from "@flame-ts/pool-core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { AgentProcess, descriptor, killAllAgents } from "./agent-process.js";
import { FakeParent, frame, input } from "./fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Result = Extract<AnyMessage, { t: "result" }>;

/** The HTTP server `gated` calls wait on: it notes each arrival and answers once opened. */
class Gates {
  /** The tags whose request arrived, in order. */
  readonly arrived: string[] = [];
  readonly #waiting = new Map<string, ServerResponse>();
  readonly #onArrival = new Map<string, () => void>();

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly url: string,
  ) {}

  static async listen(): Promise<Gates> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const gates = new Gates(server, `http://127.0.0.1:${port}`);
    server.on("request", (req, res) => {
      const tag = (req.url ?? "/").slice(1);
      gates.arrived.push(tag);
      gates.#waiting.set(tag, res);
      gates.#onArrival.get(tag)?.();
    });
    return gates;
  }

  /** Resolves once the function with this tag started and waits on its gate. */
  arrival(tag: string): Promise<void> {
    if (this.#waiting.has(tag)) return Promise.resolve();
    return new Promise((resolve) => this.#onArrival.set(tag, resolve));
  }

  /** Lets the function with this tag return `answer`. */
  open(tag: string, answer: string): void {
    const res = this.#waiting.get(tag);
    if (res === undefined) throw new Error(`gate ${tag}: no function waits on it`);
    res.end(answer);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A runner with one slot, in `mode`, welcomed by a fake parent; its gates and its log. */
async function oneSlotRunner(mode: "threads" | "inline") {
  const parent = await FakeParent.listen();
  cleanups.push(() => parent.close());
  const gates = await Gates.listen();
  cleanups.push(() => gates.close());
  const agent = AgentProcess.start(
    descriptor(parent, { maxConcurrency: 1, execution: { ...DEFAULT_EXECUTION, mode } }),
  );
  const ws = await Promise.race([
    parent.connected,
    agent.ended.then((end): never => {
      throw new Error(`flame-runner ended before connecting (code ${end.code}): ${end.stderr}`);
    }),
  ]);
  const log = join(mkdtempSync(join(tmpdir(), "flame-queue-")), "runs.log");
  return {
    parent,
    gates,
    /** What the functions logged, one `start <tag>` or `end <tag>` per line. */
    runs: () => readFileSync(log, "utf8").trim().split("\n"),
    send(msg: AnyMessage): void {
      ws.send(frame(msg));
    },
    gated(id: number, tag: string, timeoutMs: number | null = null): void {
      const args = input({ url: gates.url, tag, log });
      ws.send(frame({ t: "call", id, fn: "gated", args, timeoutMs }));
    },
    result(id: number): Promise<Result> {
      return parent.next((m): m is Result => m.t === "result" && m.id === id);
    },
    unqueued(id: number): Promise<AnyMessage> {
      return parent.next(
        (m): m is Extract<AnyMessage, { t: "unqueued" }> => m.t === "unqueued" && m.id === id,
      );
    },
  };
}

describe.each(["threads", "inline"] as const)("calls beyond maxConcurrency (%s)", (mode) => {
  it("a second call's function starts only once the first has answered", async () => {
    const r = await oneSlotRunner(mode);
    r.gated(1, "a");
    await r.gates.arrival("a");
    r.gated(2, "b");
    // Frames are handled in order: once this is refused, the runner has had call 2 too.
    r.send({ t: "call", id: 9, fn: "nope", args: input(null), timeoutMs: null });
    expect(await r.result(9)).toMatchObject({ ok: false, error: { code: "UNKNOWN_FUNCTION" } });
    r.gates.open("a", "A");
    expect(await r.result(1)).toMatchObject({ ok: true, value: "A" });
    await r.gates.arrival("b");
    r.gates.open("b", "B");
    expect(await r.result(2)).toMatchObject({ ok: true, value: "B" });
    expect(r.runs()).toEqual(["start a", "end a", "start b", "end b"]);
  });

  it("unqueue takes a queued call back (`unqueued`, it never runs); a started call ignores it", async () => {
    const r = await oneSlotRunner(mode);
    r.gated(1, "a");
    await r.gates.arrival("a");
    r.gated(2, "b");
    r.gated(3, "c");
    r.send({ t: "unqueue", id: 1 });
    r.send({ t: "unqueue", id: 2 });
    expect(await r.unqueued(2)).toEqual({ t: "unqueued", id: 2 });
    r.gates.open("a", "A");
    expect(await r.result(1)).toMatchObject({ ok: true, value: "A" });
    // Call 3 was queued behind call 2: it is the one that starts.
    await r.gates.arrival("c");
    r.gates.open("c", "C");
    expect(await r.result(3)).toMatchObject({ ok: true, value: "C" });
    expect(r.runs()).toEqual(["start a", "end a", "start c", "end c"]);
    expect(r.gates.arrived).toEqual(["a", "c"]);
    // Call 1 had started: no `unqueued` for it, and call 2 got no answer of its own.
    const about = (id: number) => r.parent.received.filter((m) => "id" in m && m.id === id);
    expect(about(1).map((m) => m.t)).toEqual(["result"]);
    expect(about(2).map((m) => m.t)).toEqual(["unqueued"]);
  });

  it("a queued call cancelled, or past its deadline, is answered without running", async () => {
    const r = await oneSlotRunner(mode);
    r.gated(1, "a");
    await r.gates.arrival("a");
    r.gated(2, "b");
    r.gated(3, "c", 200);
    r.send({ t: "cancel", id: 2 });
    expect(await r.result(2)).toEqual({
      t: "result",
      id: 2,
      ok: false,
      error: {
        code: "ABORTED",
        name: "FlameError",
        message: "cancelled by the caller before it started",
      },
    });
    // A plain answer (not answeredEarly): nothing ran, so no `ended` follows.
    const timedOut = await r.result(3);
    expect(timedOut).toMatchObject({
      ok: false,
      error: { code: "TIMEOUT", message: expect.stringContaining("waited queued") },
    });
    expect("answeredEarly" in timedOut).toBe(false);
    r.gates.open("a", "A");
    expect(await r.result(1)).toMatchObject({ ok: true, value: "A" });
    expect(r.runs()).toEqual(["start a", "end a"]);
    expect(r.gates.arrived).toEqual(["a"]);
  });
});
