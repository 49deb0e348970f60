/**
 * Issue 24, tracked resources end to end on LocalBackend (real runner-agent processes), in
 * both execution modes: a function loads a "model" once and returns a handle; calls pinned to
 * it use the same live object on the same runner; the runner outlives its idle timeout while
 * the handle lives; release, garbage collection and stop() run its dispose on the runner (a
 * marker file shows it); a killed runner makes pinned calls fail RESOURCE_GONE.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import type { Pool, PoolEvent, PoolOptions } from "../../src/index.js";
import { loadModel, trackAndDrop, useModel } from "./fixtures/tracked.mjs";
import { codeOf, isAlive, localPool } from "./helpers.js";

const entry = new URL("./fixtures/tracked.mjs", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "flame-tracked-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let markers = 0;
const marker = (): string => join(dir, `marker-${++markers}`);
const notes = (path: string): string[] =>
  existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : [];

describe.each([["threads"], ["inline"]] as const)("tracked resources (%s)", (mode) => {
  const pool = (options: Partial<PoolOptions> = {}): Pool =>
    localPool({ entry, execution: { mode }, ...options });

  it("pinned calls use the same live object on the runner that holds it; the call keeps its slot", async () => {
    const p = pool({ max: 2, maxConcurrency: 1 });
    const { model, pid } = await p.call(loadModel, { name: "m", marker: marker() });
    expect(model.released).toBe(false);
    expect(p.snapshot().runners.find((r) => r.id === model.runnerId)).toMatchObject({
      inflight: 1,
      tracked: 1,
    });
    const first = await p.call(useModel, { model }, { on: model });
    const second = await p.call(useModel, { model }, { on: model });
    expect([first.uses, second.uses]).toEqual([1, 2]);
    expect(second).toMatchObject({ runnerId: model.runnerId, pid, threadId: first.threadId });
    // maxConcurrency 1 and the slot held by the holder: pinned calls still ran, on no other
    // runner (only one was ever booted).
    expect(p.snapshot().runners).toHaveLength(1);
  });

  it("release() runs dispose on the runner before it resolves; then pinned calls fail RESOURCE_GONE", async () => {
    const p = pool();
    const events: PoolEvent[] = [];
    p.events.subscribe((e) => events.push(e));
    const path = marker();
    const { model } = await p.call(loadModel, { name: "m", marker: path });
    await model.release();
    expect(notes(path)).toEqual(["disposed m"]);
    expect(model.released).toBe(true);
    expect(await codeOf(p.call(useModel, { model }, { on: model }))).toBe("RESOURCE_GONE");
    expect(p.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
    expect(events.filter((e) => e.type === "trackedReleased")).toEqual([
      expect.objectContaining({ reason: "released", index: 0 }),
    ]);
  });

  it("a value the result does not carry is disposed when the call ends; nothing is held", async () => {
    const p = pool();
    const path = marker();
    expect(await p.call(trackAndDrop, { name: "x", marker: path })).toBe("dropped");
    expect(notes(path)).toEqual(["disposed x"]);
    expect(p.snapshot().runners[0]).toMatchObject({ inflight: 0, tracked: 0 });
  });

  it("the runner outlives idleShutdownAfter while a handle lives, and idles out after release", async () => {
    const p = pool({ idleShutdownAfter: 300 });
    const { model } = await p.call(loadModel, { name: "m", marker: marker() });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(p.snapshot().runners.map((r) => r.id)).toEqual([model.runnerId]);
    expect((await p.call(useModel, { model }, { on: model })).uses).toBe(1);
    await model.release();
    await expect.poll(() => p.snapshot().runners.length, { timeout: 15_000, interval: 50 }).toBe(0);
  });

  it("a handle garbage-collected in the parent disposes its value on the runner", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const p = pool();
    const path = marker();
    // The handle lives only inside this function.
    const runnerId = await (async () =>
      (await p.call(loadModel, { name: "dropped", marker: path })).model.runnerId)();
    await expect
      .poll(
        async () => {
          gc();
          await new Promise((resolve) => setTimeout(resolve, 20));
          return notes(path);
        },
        { timeout: 15_000, interval: 50 },
      )
      .toEqual(["disposed dropped"]);
    await expect.poll(() => p.snapshot().runners.find((r) => r.id === runnerId)?.tracked).toBe(0);
  });

  it("stop() disposes every handle on its runner before it resolves", async () => {
    const p = pool({ max: 2, maxConcurrency: 1 });
    const path = marker();
    const [a, b] = await Promise.all([
      p.call(loadModel, { name: "a", marker: path }),
      p.call(loadModel, { name: "b", marker: path }),
    ]);
    expect(a.model.runnerId).not.toBe(b.model.runnerId);
    await p.stop();
    expect(notes(path).sort()).toEqual(["disposed a", "disposed b"]);
    expect([a.model.released, b.model.released]).toEqual([true, true]);
    await a.model.release();
  });

  it("a runner killed while it holds a handle: the handle is released, pinned calls fail RESOURCE_GONE", async () => {
    const p = pool({ max: 1 });
    const path = marker();
    const { model, pid } = await p.call(loadModel, { name: "m", marker: path });
    process.kill(pid, "SIGKILL");
    await expect.poll(() => model.released, { timeout: 15_000 }).toBe(true);
    // The link closes when the process dies, but its pid stays in the process table until the
    // pool reaps the child: only a poll can tell it is gone (it failed once in .ci/run).
    await expect.poll(() => isAlive(pid), { timeout: 15_000 }).toBe(false);
    expect(await codeOf(p.call(useModel, { model }, { on: model }))).toBe("RESOURCE_GONE");
    // Killed, so nothing was disposed: the value went with its process.
    expect(notes(path)).toEqual([]);
    const fresh = await p.call(loadModel, { name: "n", marker: path });
    expect(fresh.model.runnerId).not.toBe(model.runnerId);
  });
});
