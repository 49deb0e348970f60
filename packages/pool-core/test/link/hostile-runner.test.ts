/**
 * A runner is not trusted with the parent's memory or time (issue 22, rows 1 and 2): answers
 * are judged from their frame header before any decoding, a runner that keeps sending answers
 * nobody waits for loses its link, large answers are decoded in slices, and a per-link budget
 * bounds the bytes held undecoded. Decoding is observed through a counting codec and a slice
 * queue the test drives by hand: nothing here depends on timing.
 */
import { describe, expect, it } from "vitest";
import type { FlameError } from "../../src/errors.js";
import { RunnerServer } from "../../src/link/index.js";
import type { AnyMessage } from "../../src/protocol.js";
import { CLOSE_PROTOCOL } from "../../src/wire/index.js";
import { cleanups } from "./cleanups.js";
import { isT } from "./fake-runner.js";
import {
  countingCodec,
  expectSameAnswer,
  frameOf,
  manualSlices,
  connected as setup,
  withId,
} from "./hostile-runner-setup.js";
import { rejection } from "./rejection.js";
import { call, linkEvents } from "./requests.js";

const connected = (options: Parameters<typeof RunnerServer.listen>[0] = {}) =>
  setup(cleanups, options);

/**
 * ~6 MB that nothing may decode. Row 1's attacker sent two million empty objects; building and
 * encoding those here took 5 s at load 10 and most of 23 s on Node 24 in a whole-suite run under
 * load (the test's own set-up, close to its 30 s timeout). What is judged is the frame's header,
 * so its size is what matters; `bench/answer-flood.ts` sends the real thing and measures the
 * parent's event loop.
 */
const sixMegabytes = (): Uint8Array => new Uint8Array(6_000_000).fill(1);

describe("a runner's answers, judged before decoding", () => {
  it("drops three unsolicited 6 MB answers undecoded and ends the link as a protocol violation", async () => {
    const codec = countingCodec();
    const { runner, conn, logs } = await connected({ codec });
    const events = linkEvents(conn);
    const pending = call(conn, "slow", null).catch((e: unknown) => e);
    await runner.next(isT("call"));
    const decodesBefore = codec.decodes;
    const frame = frameOf({ t: "result", id: 1000, ok: true, value: sixMegabytes() });
    expect(frame.byteLength).toBeGreaterThan(6_000_000);
    for (const id of [1000, 1001, 1002]) runner.ws.send(withId(frame, id));

    const reason = await events.closed;
    expect(reason).toMatch(/protocol violation: runner r1 sent 3 frames the parent had no use for/);
    expect(reason).toMatch(/result for call id 1002/);
    expect((await runner.closed).code).toBe(CLOSE_PROTOCOL);
    expect(codec.decodes).toBe(decodesBefore);
    const dropped = logs.filter((l) => l.msg.includes("dropped undecoded"));
    expect(dropped.map((l) => l.fields?.allowanceLeft)).toEqual([1, 0]);
    // The link answers nothing itself: the core fails the call (RUNNER_DOWN) on the close.
    expect(conn.inflight).toBe(0);
    void pending;
  });

  it("treats a second answer to one call as a duplicate: dropped undecoded, counted", async () => {
    const codec = countingCodec();
    const { runner, conn, logs } = await connected({ codec });
    const events = linkEvents(conn);
    const answered = call(conn, "echo", "x");
    const sent = await runner.next(isT("call"));
    const frame = frameOf({ t: "result", id: sent.id, ok: true, value: "first" });
    runner.ws.send(frame);
    expect(await answered).toBe("first");
    const decodesAfterAnswer = codec.decodes;
    runner.ws.send(frame);
    runner.ws.send(frame);
    // A cast.done for a call is the wrong kind of answer: also nobody's.
    const second = call(conn, "echo", "y").catch((e: unknown) => e);
    const sent2 = await runner.next(
      (m): m is Extract<AnyMessage, { t: "call" }> => m.t === "call" && m.id !== sent.id,
    );
    runner.ws.send(frameOf({ t: "cast.done", id: sent2.id, ok: true }));
    expect(await events.closed).toMatch(/protocol violation.*cast\.done for call id/);
    expect(codec.decodes).toBe(decodesAfterAnswer);
    expect(logs.filter((l) => l.msg.includes("dropped undecoded"))).toHaveLength(2);
    void second;
  });

  it("drops undecoded what runners never send and control frames over 64 KiB; three end the link", async () => {
    const codec = countingCodec();
    const { runner, conn } = await connected({ codec });
    const events = linkEvents(conn);
    let leaving: string | null = null;
    void events.leaving.then((reason) => {
      leaving = reason;
    });
    const decodesBefore = codec.decodes;
    runner.send({ t: "shutdown", reason: "x".repeat(100_000) });
    runner.hello("r1");
    runner.send({ t: "welcome", runnerId: "r1" });
    expect(await events.closed).toMatch(/protocol violation.*the last: a "welcome" frame/);
    expect(codec.decodes).toBe(decodesBefore);
    expect(leaving).toBeNull();
  });

  it("delivers a legitimate large answer intact, decoded in many slices between other work", async () => {
    const slices = manualSlices();
    const { runner, conn } = await connected({ slices: slices.queue });
    const answer = call(conn, "echo", null);
    const sent = await runner.next(isT("call"));
    const value = {
      rows: Array.from({ length: 100_000 }, (_, i) => ({
        i,
        name: `row ${i}`,
        tags: ["a", i % 7],
      })),
      blob: new Uint8Array(1024 * 1024).fill(7),
      when: new Date(5),
      index: new Map([["k", new Set([1n])]]),
    };
    runner.ws.send(frameOf({ t: "result", id: sent.id, ok: true, value }));
    await expect.poll(() => conn.heldAnswerBytes, { timeout: 10_000 }).toBeGreaterThan(2_000_000);
    let settled = false;
    void answer.then(() => {
      settled = true;
    });
    let turns = 0;
    while (!settled) {
      turns += slices.runAll();
      await new Promise((resolve) => setImmediate(resolve));
      if (turns > 100_000) throw new Error("the decode never finished");
    }
    expect(turns).toBeGreaterThan(20);
    expectSameAnswer(await answer, value);
    expect(conn.heldAnswerBytes).toBe(0);
  });

  it("refuses an answer past link.answerBudgetBytes with OVERLOADED naming the option; the link lives on", async () => {
    const slices = manualSlices();
    const MiB = 1024 * 1024;
    const { runner, conn } = await connected({
      slices: slices.queue,
      maxFrameBytes: 4 * MiB,
      answerBudgetBytes: 4 * MiB,
    });
    const first = call(conn, "echo", 1);
    const second = call(conn, "echo", 2);
    const ids = [(await runner.next(isT("call"))).id];
    await runner.next(
      (m): m is Extract<AnyMessage, { t: "call" }> => m.t === "call" && m.id !== ids[0],
    );
    const calls = runner.received.filter(isT("call"));
    const big = (): unknown[] => Array.from({ length: 300_000 }, (_, i) => ({ i }));
    runner.ws.send(frameOf({ t: "result", id: calls[0]?.id ?? 0, ok: true, value: big() }));
    await expect.poll(() => conn.heldAnswerBytes, { timeout: 10_000 }).toBeGreaterThan(2 * MiB);
    runner.ws.send(frameOf({ t: "result", id: calls[1]?.id ?? 0, ok: true, value: big() }));
    const refused = (await rejection(second)) as FlameError;
    expect(refused.code).toBe("OVERLOADED");
    expect(refused.message).toMatch(/link\.answerBudgetBytes is 4194304/);
    expect(refused.message).toMatch(/refused undecoded/);
    let firstSettled = false;
    void first.then(() => {
      firstSettled = true;
    });
    while (!firstSettled) {
      slices.runAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(((await first) as unknown[]).length).toBe(300_000);
    // The refusal was not a violation: the link still serves calls.
    const third = call(conn, "echo", 3);
    const sent3 = await runner.next(
      (m): m is Extract<AnyMessage, { t: "call" }> =>
        m.t === "call" && !calls.some((c) => c.id === m.id),
    );
    runner.send({ t: "result", id: sent3.id, ok: true, value: "still here" });
    expect(await third).toBe("still here");
  });

  it("an early answer still being decoded, then the runner's `ended`: one failure whose work has ended", async () => {
    const slices = manualSlices();
    const { runner, conn } = await connected({ slices: slices.queue });
    const heard: string[] = [];
    const id = conn.request(
      "call",
      "slow",
      null,
      { timeoutMs: null, traceparent: undefined },
      {
        resolve: () => heard.push("resolve"),
        reject: (e, early) => heard.push(`reject ${(e as FlameError).code} early=${early}`),
        ended: () => heard.push("ended"),
        unqueued: () => heard.push("unqueued"),
      },
    );
    if (id === null) throw new Error("the call was not sent");
    const probe = call(conn, "echo", "probe");
    const probeId = (
      await runner.next(
        (m): m is Extract<AnyMessage, { t: "call" }> => m.t === "call" && m.id !== id,
      )
    ).id;
    const error = {
      code: "TIMEOUT",
      name: "FlameError",
      message: "too slow",
      stack: "x".repeat(100_000),
    };
    runner.send({ t: "result", id, ok: false, error, answeredEarly: true });
    // Both about the call whose answer is being read: that answer says how it ended.
    runner.send({ t: "error", id, code: "PROTOCOL", message: "not for a call being read" });
    runner.send({ t: "ended", id });
    // Frames are handled in order: once the probe is answered, all three above were seen.
    runner.send({ t: "result", id: probeId, ok: true, value: "seen" });
    expect(await probe).toBe("seen");
    expect(heard).toEqual([]);
    expect(conn.heldAnswerBytes).toBeGreaterThan(100_000);
    slices.runAll();
    // The work ended before its answer was read: one failure, with the slot free at once.
    expect(heard).toEqual(["reject TIMEOUT early=false"]);
    expect(conn.inflight).toBe(0);
  });

  it("rejects a budget below maxFrameBytes with INVALID_OPTIONS naming link.answerBudgetBytes", async () => {
    await expect(
      RunnerServer.listen({ maxFrameBytes: 2 * 1024 * 1024, answerBudgetBytes: 1024 * 1024 }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS", field: "link.answerBudgetBytes" });
  });
});
