/**
 * Tracked resources on the real link (issue 24), with a hand-driven runner: the frames the
 * parent sends (a pinned call's `on`, `release`) and how it takes the runner's `released`
 * (routed to the handle; one about nothing held counts against the dropped-frame allowance).
 */
import { deserialize } from "node:v8";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  defineFunction,
  Pool,
  type PoolEvent,
  type Tracked,
} from "../../src/index.js";
import { decodeParentDescriptor } from "../../src/protocol.js";
import { formatTrackedRef, TRACKED_KEY } from "../../src/wire/index.js";
import { FakeRunner, isT } from "./fake-runner.js";

const open = defineFunction("link-tracked.open", (_: string): { model: Tracked<object> } => {
  throw new Error("runs on the fake runner only");
});
const use = defineFunction("link-tracked.use", (input: unknown) => input);

/** Boots a FakeRunner that dials the pool with the descriptor the pool gave it. */
class CraftedBackend implements Backend {
  readonly name = "crafted";
  readonly runners: Array<{ runner: FakeRunner; runnerId: string }> = [];
  async boot(req: BootRequest): Promise<BootedRunner> {
    const descriptor = decodeParentDescriptor(req.env.FLAME_PARENT ?? "");
    const runner = await FakeRunner.connect(descriptor.url, {
      runnerId: descriptor.runnerId,
      token: descriptor.token,
    });
    runner.hello(descriptor.runnerId, [open.id, use.id]);
    this.runners.push({ runner, runnerId: descriptor.runnerId });
    return {
      meta: {},
      stop: async () => runner.close(),
      exited: runner.closed.then(({ code }) => ({ code: null, reason: `socket closed (${code})` })),
    };
  }
}

let pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  pools = [];
});

async function holding() {
  const backend = new CraftedBackend();
  const pool = new Pool({ name: "tracked-link", max: 1, backend, shutdownTimeout: 1_000 });
  pools.push(pool);
  const events: PoolEvent[] = [];
  pool.events.subscribe((e) => events.push(e));
  const call = pool.call(open, "m");
  await expect.poll(() => backend.runners.length, { timeout: 10_000 }).toBe(1);
  const { runner, runnerId } = backend.runners[0] as { runner: FakeRunner; runnerId: string };
  const sent = await runner.next(isT("call"));
  const ref = { [TRACKED_KEY]: formatTrackedRef({ runnerId, group: sent.id, index: 0 }) };
  runner.send({ t: "result", id: sent.id, ok: true, value: { model: ref }, tracked: true });
  const { model } = await call;
  return { pool, runner, group: sent.id, model, events };
}

describe("tracked resources on the link", () => {
  it("a pinned call carries `on`; the handle travels as its bare reference", async () => {
    const { pool, runner, group, model } = await holding();
    const out = pool.call(use, { model }, { on: model });
    const pinned = await runner.next(
      (m): m is Extract<typeof m, { t: "call" }> => m.t === "call" && m.id !== group,
    );
    expect(pinned.on).toBe(group);
    expect(deserialize(pinned.args as Uint8Array)).toEqual({
      model: { [TRACKED_KEY]: model[TRACKED_KEY] },
    });
    runner.send({ t: "result", id: pinned.id, ok: true, value: "ran" });
    expect(await out).toBe("ran");
  });

  it("release() sends `release {id: group, index}` and resolves on the runner's `released`", async () => {
    const { pool, runner, group, model } = await holding();
    const releasing = model.release();
    expect(await runner.next(isT("release"))).toEqual({ t: "release", id: group, index: 0 });
    runner.send({ t: "released", id: group, index: 0 });
    await releasing;
    await expect.poll(() => pool.snapshot().runners[0]?.tracked).toBe(0);
  });

  it("a `released` about nothing held is a dropped frame: past the allowance the link ends", async () => {
    const { runner, group, model, events } = await holding();
    for (const index of [5, 6, 7]) runner.send({ t: "released", id: group, index });
    await expect.poll(() => model.released, { timeout: 10_000 }).toBe(true);
    const down = events.find((e) => e.type === "runnerDown");
    expect((down as { reason: string }).reason).toMatch(/sent 3 frames the parent had no use for/);
    expect(events.find((e) => e.type === "trackedReleased")).toMatchObject({
      reason: "runnerDown",
    });
  });
});
