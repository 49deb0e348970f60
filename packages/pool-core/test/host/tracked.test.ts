/**
 * Tracked resources through the Pool host on virtual time (issue 24): a call whose result
 * carries references gives its caller handles and keeps its slot until they are released;
 * calls pinned to a handle go to its runner with `on`; a runner lost or a pool stopped lets
 * every handle go. The runner is FakeWorld's in-memory link (test/host/fakes.ts).
 */
import { deserialize, serialize, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { FlameError, isFlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import type { PoolEvent } from "../../src/telemetry/events.js";
import type { Tracked } from "../../src/tracked/types.js";
import { formatTrackedRef, TRACKED_KEY } from "../../src/wire/tracked.js";
import { type CallOpts, flush, TrackedAnswer } from "./fakes.js";
import { useVirtualPools } from "./virtual-pool.js";

interface Model {
  readonly name: string;
}
const load = defineFunction(
  "host-tracked.load",
  (_input: string): { model: Tracked<Model>; other: unknown } => {
    throw new Error("runs on the fake runner only");
  },
);
const infer = defineFunction(
  "host-tracked.infer",
  (input: { model: Tracked<Model>; n?: number }) => input,
);
const echo = defineFunction("host-tracked.echo", (input: unknown) => input);

const setup = useVirtualPools();

/** A fake runner that answers `load` with two references of its own call and one foreign. */
function trackingPool(options: Parameters<typeof setup>[0] = {}) {
  const env = setup({ maxConcurrency: 1, ...options });
  env.world.handler = async (fn: string, args: unknown, opts: CallOpts) => {
    if (fn !== load.id) return { fn, args, on: opts.on };
    const runnerId = env.world.live()[0]?.req.runnerId ?? "";
    const ref = (index: number) => ({
      [TRACKED_KEY]: formatTrackedRef({ runnerId, group: opts.id ?? 0, index }),
    });
    return new TrackedAnswer({
      model: ref(0),
      again: ref(0),
      tokenizer: ref(1),
      other: { [TRACKED_KEY]: formatTrackedRef({ runnerId: "elsewhere", group: 1, index: 0 }) },
    });
  };
  return env;
}

type Loaded = { model: Tracked<Model>; again: unknown; tokenizer: Tracked<Model>; other: unknown };

async function loaded(env: ReturnType<typeof trackingPool>): Promise<Loaded> {
  const call = env.pool.call(load, "small");
  await env.clock.advance(200);
  return (await call) as unknown as Loaded;
}

const ofType = <T extends PoolEvent["type"]>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

describe("a call answered with tracked resources", () => {
  it("gives handles in place of this call's references, one per index; others stay plain data", async () => {
    const env = trackingPool();
    const result = await loaded(env);
    const runnerId = env.world.live()[0]?.req.runnerId;
    expect(result.model.runnerId).toBe(runnerId);
    expect(result.model.released).toBe(false);
    expect(result.again).toBe(result.model);
    expect(result.tokenizer).not.toBe(result.model);
    expect(result.other).toEqual({ [TRACKED_KEY]: "elsewhere/1/0" });
    // Only the reference is the handle's own: sent back in an input, it travels as one.
    expect(Object.keys(result.model)).toEqual([TRACKED_KEY]);
    expect(deserialize(serialize({ model: result.model }))).toEqual({
      model: { [TRACKED_KEY]: result.model[TRACKED_KEY] },
    });
    expect(ofType(env.events, "trackedHeld")).toEqual([
      expect.objectContaining({ runnerId, fn: load.id, count: 2 }),
    ]);
  });

  it("keeps its slot (inflight, tracked) until every handle is released; release sends `release` and resolves on `released`", async () => {
    const env = trackingPool();
    const { model, tokenizer } = await loaded(env);
    const conn = env.world.live()[0]?.conn;
    const group = conn?.sent[0]?.id;
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1 });
    if (conn === null || conn === undefined) throw new Error("no runner");
    conn.answerReleases = false;
    const releasing = model.release();
    expect(model.release()).toBe(releasing);
    expect(model.released).toBe(true);
    expect(conn.releases).toEqual([{ group, index: 0 }]);
    let done = false;
    void releasing.then(() => {
      done = true;
    });
    await flush();
    expect(done).toBe(false);
    expect(conn.released(group ?? 0, 0)).toBe(true);
    await flush();
    expect(done).toBe(true);
    // One handle left: the slot is still held.
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1 });
    conn.answerReleases = true;
    await tokenizer[Symbol.asyncDispose]();
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
    expect(ofType(env.events, "trackedReleased").map((e) => [e.index, e.reason])).toEqual([
      [0, "released"],
      [1, "released"],
    ]);
    // A second `released` for the same resource is about nothing held.
    expect(conn.released(group ?? 0, 0)).toBe(false);
  });

  it("a `released lost` lets the handle go (reason lost); a dispose that threw is reported", async () => {
    const env = trackingPool();
    const { model, tokenizer } = await loaded(env);
    const conn = env.world.live()[0]?.conn;
    const group = conn?.sent[0]?.id ?? 0;
    expect(conn?.released(group, 0, { lost: true })).toBe(true);
    expect(model.released).toBe(true);
    if (conn === null || conn === undefined) throw new Error("no runner");
    conn.answerReleases = false;
    const releasing = tokenizer.release();
    conn.released(group, 1, { error: new FlameError("REMOTE_ERROR", "close failed") });
    await releasing;
    expect(ofType(env.events, "trackedReleased")).toEqual([
      expect.objectContaining({ index: 0, reason: "lost" }),
      expect.objectContaining({ index: 1, reason: "released", error: "close failed" }),
    ]);
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
  });
});

describe("calls pinned to a handle", () => {
  it("go to the holder's runner with `on` = the holder's group, in its slot", async () => {
    const env = trackingPool({ max: 1, prefetch: false });
    const { model } = await loaded(env);
    const conn = env.world.live()[0]?.conn;
    const group = conn?.sent[0]?.id;
    // maxConcurrency 1, max 1, the slot held by the holder: a pinned call still runs.
    const out = env.pool.call(infer, { model }, { on: model });
    await env.clock.advance(10);
    expect(await out).toMatchObject({ on: group });
    expect(conn?.sent.map((s) => s.on)).toEqual([undefined, group]);
    // An unpinned call waits for a slot: the holder has it.
    const waiting = env.pool.call(echo, "x", { timeout: 50 }).catch((e: unknown) => e);
    await env.clock.advance(100);
    expect(isFlameError(await waiting, "TIMEOUT")).toBe(true);
  });

  it("run one at a time per holder, FIFO; the snapshot counts them as pinned", async () => {
    const env = trackingPool();
    const { model } = await loaded(env);
    const tracked = env.world.handler;
    const running: Array<() => void> = [];
    env.world.handler = (fn, args, opts) =>
      fn === infer.id
        ? new Promise((resolve) => running.push(() => resolve(args)))
        : tracked(fn, args, opts);
    const first = env.pool.call(infer, { model, n: 1 }, { on: model });
    const second = env.pool.call(infer, { model, n: 2 }, { on: model });
    await flush();
    expect(running).toHaveLength(1);
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1, pinned: 2 });
    running[0]?.();
    expect(await first).toMatchObject({ n: 1 });
    await flush();
    expect(running).toHaveLength(2);
    running[1]?.();
    expect(await second).toMatchObject({ n: 2 });
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1, pinned: 0 });
  });

  it("fail RESOURCE_GONE once the handle is released, without being sent", async () => {
    const env = trackingPool();
    const { model } = await loaded(env);
    await model.release();
    const conn = env.world.live()[0]?.conn;
    const before = conn?.requests;
    const gone = await env.pool.call(infer, { model }, { on: model }).catch((e: unknown) => e);
    expect(isFlameError(gone, "RESOURCE_GONE")).toBe(true);
    expect(conn?.requests).toBe(before);
  });

  it.each([
    ["a plain object", () => ({ [TRACKED_KEY]: "r/1/0" }), {}],
    ["with retry", null, { retry: { runnerDown: 1 } }],
    ["with link: false", null, { link: false }],
  ])("refuse `on` %s with INVALID_OPTIONS naming `on`", async (_name, make, extra) => {
    const env = trackingPool();
    const { model } = await loaded(env);
    const on = (make?.() ?? model) as Tracked<unknown>;
    const error = await env.pool.call(echo, 1, { on, ...extra }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_OPTIONS", field: "on" });
    const child = await env.pool.placeChild(echo, 1, { on: model }).catch((e: unknown) => e);
    expect(child).toMatchObject({ code: "INVALID_OPTIONS", field: "on" });
  });

  it("refuse a handle of another pool", async () => {
    const first = trackingPool();
    const { model } = await loaded(first);
    const second = trackingPool();
    const error = await second.pool.call(echo, 1, { on: model }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_OPTIONS", field: "on" });
  });
});

describe("tracked answers nobody receives", () => {
  /** A runner whose `load` answers (tracked) only when the test says, ignoring aborts. */
  function lateTracker() {
    const env = trackingPool();
    let answer: (() => void) | null = null;
    const tracked = env.world.handler;
    env.world.handler = (fn, args, opts) =>
      new Promise((resolve) => {
        answer = () => resolve(tracked(fn, args, opts));
      });
    return { ...env, answer: () => answer?.() };
  }

  it.each([
    ["an unlinked call whose caller gave up", { link: false }],
    ["a call answered ABORTED whose runner answers after all", {}],
  ])(
    "%s: its resources are released at once; the slot is held until they are disposed",
    async (_name, extra) => {
      const env = lateTracker();
      const abort = new AbortController();
      const call = env.pool.call(load, "small", { signal: abort.signal, ...extra });
      await env.clock.advance(200);
      abort.abort();
      expect(await call.catch((e: unknown) => (e as FlameError).code)).toBe("ABORTED");
      const conn = env.world.live()[0]?.conn;
      if (conn === null || conn === undefined) throw new Error("no runner");
      conn.answerReleases = false;
      env.answer();
      await flush();
      const group = conn.sent[0]?.id ?? 0;
      expect(conn.releases).toEqual([
        { group, index: 0 },
        { group, index: 1 },
      ]);
      expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1 });
      conn.released(group, 0);
      conn.released(group, 1);
      expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
    },
  );

  it("a pinned call's own tracked values are released at once: its caller gets released handles", async () => {
    const env = trackingPool();
    const { model } = await loaded(env);
    const conn = env.world.live()[0]?.conn;
    const tracked = env.world.handler;
    env.world.handler = (_fn, args, opts) => tracked(load.id, args, opts);
    const own = (await env.pool.call(infer, { model }, { on: model })) as unknown as Loaded;
    const pinnedGroup = conn?.sent[1]?.id;
    expect(own.model.released).toBe(true);
    expect(conn?.releases).toEqual([
      { group: pinnedGroup, index: 0 },
      { group: pinnedGroup, index: 1 },
    ]);
    await own.model.release();
    // The holder is untouched: still live, its slot held.
    expect(model.released).toBe(false);
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 1, tracked: 1 });
  });

  it("an answer flagged tracked with none of its call's references holds nothing", async () => {
    const env = trackingPool();
    env.world.handler = async () => new TrackedAnswer({ stray: { [TRACKED_KEY]: "x/9/0" } });
    const call = env.pool.call(echo, 1);
    await env.clock.advance(200);
    expect(await call).toEqual({ stray: { [TRACKED_KEY]: "x/9/0" } });
    expect(env.pool.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
    expect(ofType(env.events, "trackedHeld")).toEqual([]);
  });
});

describe("handles let go without release()", () => {
  it("the runner down: every handle released, release() resolves, pinned calls fail RESOURCE_GONE", async () => {
    const env = trackingPool({ max: 1 });
    const { model, tokenizer } = await loaded(env);
    const conn = env.world.live()[0]?.conn;
    if (conn === null || conn === undefined) throw new Error("no runner");
    conn.answerReleases = false;
    const releasing = tokenizer.release();
    env.world.live()[0]?.crash("oom");
    await env.clock.advance(1);
    await releasing;
    expect(model.released).toBe(true);
    const gone = await env.pool.call(infer, { model }, { on: model }).catch((e: unknown) => e);
    expect(isFlameError(gone, "RESOURCE_GONE")).toBe(true);
    expect(ofType(env.events, "trackedReleased").map((e) => e.reason)).toEqual([
      "runnerDown",
      "runnerDown",
    ]);
  });

  it("stop(): every handle released (reason stopped), release() resolves", async () => {
    const env = trackingPool();
    const { model, tokenizer } = await loaded(env);
    const stopping = env.pool.stop();
    expect(model.released).toBe(true);
    await tokenizer.release();
    await env.clock.advance(2_000);
    await stopping;
    expect(ofType(env.events, "trackedReleased").map((e) => e.reason)).toEqual([
      "stopped",
      "stopped",
    ]);
    const conn = env.world.runners[0]?.conn;
    expect(conn?.releases).toEqual([]);
    // Like any call on a stopped pool.
    const refused = await env.pool.call(infer, { model }, { on: model }).catch((e: unknown) => e);
    expect(isFlameError(refused, "POOL_STOPPED")).toBe(true);
  });

  it("a handle garbage-collected in the parent releases its resource (reason collected)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const env = trackingPool();
    const conn = await (async () => {
      const result = await loaded(env);
      // Keep the tokenizer: only the model's handle (at both its places) is dropped.
      keep.push(result.tokenizer);
      return env.world.live()[0]?.conn;
    })();
    await expect
      .poll(
        async () => {
          gc();
          await flush();
          return conn?.releases.length;
        },
        { interval: 10, timeout: 10_000 },
      )
      .toBe(1);
    expect(conn?.releases[0]?.index).toBe(0);
    await flush();
    expect(ofType(env.events, "trackedReleased")).toEqual([
      expect.objectContaining({ index: 0, reason: "collected" }),
    ]);
    expect(env.pool.snapshot().runners[0]).toMatchObject({ tracked: 1 });
  });
});

const keep: unknown[] = [];
