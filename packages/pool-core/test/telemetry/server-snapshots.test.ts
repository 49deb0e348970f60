import { afterEach, describe, expect, it } from "vitest";
import type { PoolSnapshot, RunnerSnapshot } from "../../src/telemetry/events.js";
import { serveTelemetry } from "../../src/telemetry.js";
import { Client, fakePool } from "./server-harness.js";

const runner = (id: string, state: RunnerSnapshot["state"]): RunnerSnapshot => ({
  id,
  state,
  inflight: 0,
  queued: 0,
  isMin: false,
  bootedAtMs: state === "booting" ? null : 1,
  callsServed: 0,
  tracked: 0,
  pinned: 0,
  meta: {},
});

describe("serveTelemetry: the pool's snapshot follows what changed its shape", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("sends a fresh snapshot after a batch with growStart, shrink or drain, none after calls alone", async () => {
    // The fake pool's state, changed by hand just as a real pool changes it before emitting.
    let state: Partial<PoolSnapshot> = { runners: [runner("r1", "ready")] };
    const pool = fakePool("p");
    const events = pool.events;
    const shaped = {
      name: "p",
      events: {
        subscribe: events.subscribe.bind(events),
        get seq() {
          return events.seq;
        },
        snapshot: () => ({ ...events.snapshot(), ...state }),
      },
    };
    const server = await serveTelemetry({
      pools: [shaped],
      snapshotIntervalMs: 0,
      historyMs: 0,
    });
    cleanups.push(() => server.close());
    const client = new Client(server.url);
    cleanups.push(() => client.close());
    await client.until("the first snapshot", () => client.messages.length === 2);

    state = { pendingBoots: 1, runners: [runner("r1", "ready"), runner("r2", "booting")] };
    events.emit({ type: "growStart", bootId: "b2", runnerId: "r2", count: 2, isMin: false });
    await client.until("a batch and a snapshot", () => client.messages.length === 4);
    expect(client.messages.slice(2)).toMatchObject([
      { type: "events", events: [{ type: "growStart", seq: 1 }] },
      { type: "snapshot", pool: "p", snapshot: { seq: 1, pendingBoots: 1 } },
    ]);

    // Calls alone: their counters ride on the periodic snapshot, not one per batch.
    events.emit({
      type: "callFinished",
      kind: "call",
      fn: "f",
      runnerId: "r1",
      durationMs: 3,
      ok: true,
    });
    state = { draining: true, runners: [runner("r1", "draining")] };
    events.emit({ type: "shrink", runnerId: "r2", count: 1, reason: "idle" });
    events.emit({ type: "drain", timeoutMs: 1_000 });
    await client.until("the next snapshot", () => client.messages.length === 6);
    expect(client.messages.slice(4)).toMatchObject([
      { type: "events", events: [{ type: "callFinished" }, { type: "shrink" }, { type: "drain" }] },
      {
        type: "snapshot",
        snapshot: { seq: 4, draining: true, runners: [{ id: "r1", state: "draining" }] },
      },
    ]);

    events.emit({
      type: "callFinished",
      kind: "call",
      fn: "f",
      runnerId: "r1",
      durationMs: 3,
      ok: true,
    });
    await client.until("the call's batch", () => client.messages.length === 7);
    // A snapshot sent for that batch would have gone out before this change and this resync.
    state = { max: 9 };
    client.ws.send(JSON.stringify({ type: "resync" }));
    await client.until("the resync", () =>
      client.messages.some((m) => m.type === "snapshot" && m.snapshot.max === 9),
    );
    expect(client.messages.slice(6).map((m) => m.type)).toEqual(["events", "snapshot"]);
  });
});
