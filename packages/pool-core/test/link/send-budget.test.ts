/**
 * A runner that stops reading must not make the parent buffer without bound: past
 * `sendHighWaterBytes` requests wait in a bounded queue, and one more fails OVERLOADED naming
 * the option; once the runner reads again the waiting requests go out in order.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { cleanups } from "./cleanups.js";
import { connected } from "./hostile-runner-setup.js";
import { call } from "./requests.js";

const MIB = 1024 * 1024;

describe("per-link send budget", () => {
  it("holds at most about twice sendHighWaterBytes for a runner that stops reading; then OVERLOADED", async () => {
    const highWater = 2 * MIB;
    const { server, runner, conn } = await connected(cleanups, {
      sendHighWaterBytes: highWater,
      maxQueuedSends: 8,
      maxFrameBytes: 4 * MIB,
    });
    // The runner stops reading: its socket buffers fill, then the parent's.
    const runnerSocket = (runner.ws as unknown as { _socket: Socket })._socket;
    runnerSocket.pause();

    const payload = new Uint8Array(MIB / 2).fill(1);
    const outcomes: Array<Promise<unknown>> = [];
    let overloaded: FlameError | null = null;
    let maxHeldBytes = 0;
    const serverSide = [...(server as unknown as { connections: Set<unknown> }).connections][0] as {
      ws: { bufferedAmount: number };
      budget: { heldBytes: number };
    };
    for (let i = 0; i < 2_000 && overloaded === null; i++) {
      const result = call(conn, "echo", payload, { timeoutMs: null });
      outcomes.push(result);
      result.catch((error: unknown) => {
        if (error instanceof FlameError && error.code === "OVERLOADED") overloaded = error;
      });
      maxHeldBytes = Math.max(
        maxHeldBytes,
        serverSide.ws.bufferedAmount + serverSide.budget.heldBytes,
      );
      // Let the refusal (synchronous) and socket writes settle.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(overloaded).not.toBeNull();
    expect((overloaded as unknown as FlameError).message).toMatch(/link\.sendHighWaterBytes/);
    // Held in the parent: the socket's queue plus the waiting requests, bounded.
    expect(maxHeldBytes).toBeLessThanOrEqual(2 * highWater + MIB);
    const sent = outcomes.length - 1;

    // The runner reads again: every accepted request reaches it, in order.
    runnerSocket.resume();
    const deadline = Date.now() + 20_000;
    while (runner.received.filter((m) => m.t === "call").length < sent) {
      if (Date.now() > deadline) throw new Error("accepted calls never all arrived");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const ids = runner.received.flatMap((m) => (m.t === "call" ? [m.id] : []));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids).toHaveLength(sent);
  });

  it("a request waiting for the budget that is aborted leaves at once and frees its place", async () => {
    const { server, runner, conn } = await connected(cleanups, {
      sendHighWaterBytes: MIB,
      maxQueuedSends: 1,
      maxFrameBytes: 4 * MIB,
    });
    (runner.ws as unknown as { _socket: Socket })._socket.pause();
    const payload = new Uint8Array(MIB / 4).fill(2);
    const serverSide = [...(server as unknown as { connections: Set<unknown> }).connections][0] as {
      budget: { waitingCount: number };
    };
    // Fill until one request waits.
    let last: { controller: AbortController; outcome: Promise<unknown> } | null = null;
    for (let i = 0; i < 2_000 && serverSide.budget.waitingCount === 0; i++) {
      const controller = new AbortController();
      const outcome = call(conn, "echo", payload, {
        timeoutMs: null,
        signal: controller.signal,
      }).catch((e: unknown) => e);
      last = { controller, outcome };
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(serverSide.budget.waitingCount).toBe(1);
    const inflightBefore = conn.inflight;
    // The queue (1) is full: the next fails OVERLOADED at once, naming maxQueuedSends too.
    const refused = await call(conn, "echo", payload, { timeoutMs: null }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "OVERLOADED" });
    expect((refused as Error).message).toMatch(/link\.maxQueuedSends/);
    expect(conn.inflight).toBe(inflightBefore);
    // The waiting one is aborted: answered ABORTED, its place and slot free at once.
    last?.controller.abort();
    expect(await last?.outcome).toMatchObject({ code: "ABORTED" });
    expect(serverSide.budget.waitingCount).toBe(0);
    expect(conn.inflight).toBe(inflightBefore - 1);
  });
});
