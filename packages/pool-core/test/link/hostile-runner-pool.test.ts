/**
 * A compromised runner, started with a real descriptor by a backend like any other, floods
 * its parent with answers nobody asked for (issue 22, row 1): the pool ends its link as a
 * protocol violation, the caller waiting on it fails RUNNER_DOWN through the core as for any
 * closed link, and the runnerDown event says why.
 */
import { describe, expect, it } from "vitest";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  FlameError,
  Pool,
  type PoolEvent,
} from "../../src/index.js";
import { splitAnswerFrame } from "../../src/protocol/answer-parts.js";
import { decodeParentDescriptor, encodeFrame, v8Codec } from "../../src/protocol.js";
import { echo } from "../fixtures/functions.mjs";
import { FakeRunner, isT } from "./fake-runner.js";

/** Boots a FakeRunner that dials the pool with the descriptor the pool gave it. */
class CraftedBackend implements Backend {
  readonly name = "crafted";
  readonly runners: FakeRunner[] = [];
  async boot(req: BootRequest): Promise<BootedRunner> {
    const descriptor = decodeParentDescriptor(req.env.FLAME_PARENT ?? "");
    const runner = await FakeRunner.connect(descriptor.url, {
      runnerId: descriptor.runnerId,
      token: descriptor.token,
    });
    runner.hello(descriptor.runnerId, ["echo"]);
    this.runners.push(runner);
    return {
      meta: {},
      stop: async () => runner.close(),
      exited: runner.closed.then(({ code }) => ({ code: null, reason: `socket closed (${code})` })),
    };
  }
}

describe("a runner that floods its parent with unsolicited answers", () => {
  it("loses its link as a protocol violation; its caller fails RUNNER_DOWN and the event says why", async () => {
    const backend = new CraftedBackend();
    const pool = new Pool({ name: "hostile", min: 0, max: 1, backend, retry: { runnerDown: 0 } });
    const events: PoolEvent[] = [];
    pool.events.subscribe((e) => events.push(e));
    await pool.start();
    try {
      const outcome = pool.call(echo, "never answered").catch((e: unknown) => e);
      await expect.poll(() => backend.runners.length, { timeout: 10_000 }).toBe(1);
      const runner = backend.runners[0] as FakeRunner;
      await runner.next(isT("call"));
      const flood = encodeFrame(
        { t: "result", id: 0, ok: true, value: Array.from({ length: 2_000_000 }, () => ({})) },
        v8Codec,
        64 * 1024 * 1024,
      );
      for (const id of [70_001, 70_002, 70_003]) {
        const frame = Buffer.from(flood);
        frame.writeUInt32BE(id, 4);
        runner.ws.send(frame);
      }
      const error = await outcome;
      expect(error).toBeInstanceOf(FlameError);
      expect((error as FlameError).code).toBe("RUNNER_DOWN");
      const down = events.find((e) => e.type === "runnerDown");
      expect(down).toMatchObject({ type: "runnerDown", expected: false });
      expect((down as { reason: string }).reason).toMatch(
        /link closed: protocol violation: runner .* sent 3 frames the parent had no use for/,
      );
    } finally {
      await pool.stop();
    }
  });
});

describe("a runner whose link closes while its answer arrives in parts", () => {
  it("fails its caller RUNNER_DOWN, as any closed link's", async () => {
    const backend = new CraftedBackend();
    const pool = new Pool({ name: "parts", min: 0, max: 1, backend, retry: { runnerDown: 0 } });
    await pool.start();
    try {
      const outcome = pool.call(echo, "half an answer").catch((e: unknown) => e);
      await expect.poll(() => backend.runners.length, { timeout: 10_000 }).toBe(1);
      const runner = backend.runners[0] as FakeRunner;
      const sent = await runner.next(isT("call"));
      const answer = encodeFrame(
        { t: "result", id: sent.id, ok: true, value: new Uint8Array(3 * 1024 * 1024) },
        v8Codec,
        64 * 1024 * 1024,
      );
      const parts = splitAnswerFrame(answer, 1024 * 1024);
      expect(parts.length).toBeGreaterThan(2);
      for (const part of parts.slice(0, 2)) runner.ws.send(part);
      runner.close();
      const error = await outcome;
      expect(error).toBeInstanceOf(FlameError);
      expect((error as FlameError).code).toBe("RUNNER_DOWN");
    } finally {
      await pool.stop();
    }
  });
});
