/**
 * A large answer arrives in parts (protocol/answer-parts.ts, issue 22 row 2), and a runner is
 * trusted no more with parts than with whole answers: each part is judged from its header, an
 * answer nobody waits for is dropped part by part and counted, a declared size over the limits
 * is refused and its remaining parts skipped, a part out of order or past its declared total
 * fails its call, and parts of two answers interleaved end the link. Frames are handled in
 * order, so a probe call answered after the parts proves the parent has seen them all.
 */
import { describe, expect, it } from "vitest";
import type { FlameError } from "../../src/errors.js";
import type { RunnerServer } from "../../src/link/index.js";
import { splitAnswerFrame } from "../../src/protocol/answer-parts.js";
import { readFrameHeader } from "../../src/protocol/frame.js";
import type { AnyMessage } from "../../src/protocol.js";
import { cleanups } from "./cleanups.js";
import type { FakeRunner } from "./fake-runner.js";
import {
  countingCodec,
  expectSameAnswer,
  frameOf,
  manualSlices,
  connected as setup,
} from "./hostile-runner-setup.js";
import { rejection } from "./rejection.js";
import { call, linkEvents } from "./requests.js";

const connected = (options: Parameters<typeof RunnerServer.listen>[0] = {}) =>
  setup(cleanups, options);

const MiB = 1024 * 1024;

/** ~3 MB of rows: three 1 MiB parts. */
const rows = (): unknown[] => Array.from({ length: 300_000 }, (_, i) => ({ i }));

/** The next call the runner receives that is not one of `seen`. */
async function nextCall(runner: FakeRunner, seen: number[]): Promise<number> {
  const sent = await runner.next(
    (m): m is Extract<AnyMessage, { t: "call" }> => m.t === "call" && !seen.includes(m.id),
  );
  seen.push(sent.id);
  return sent.id;
}

/** A call answered at once: when it settles, every frame sent before its answer was handled. */
async function probe(conn: Parameters<typeof call>[0], runner: FakeRunner, seen: number[]) {
  const answer = call(conn, "echo", "probe");
  runner.send({ t: "result", id: await nextCall(runner, seen), ok: true, value: "seen" });
  return answer;
}

/** Rewrites bytes 8..11 of every part: the answer's declared total. */
function declaring(parts: Uint8Array[], totalBytes: number): Buffer[] {
  return parts.map((p) => {
    const copy = Buffer.from(p);
    copy.writeUInt32BE(totalBytes, 8);
    return copy;
  });
}

describe("a large answer in parts", () => {
  it("is held part by part in one buffer, then decoded in slices and delivered intact", async () => {
    const slices = manualSlices();
    const { runner, conn } = await connected({ slices: slices.queue });
    const seen: number[] = [];
    const answer = call(conn, "echo", null);
    const id = await nextCall(runner, seen);
    const value = { rows: rows(), blob: new Uint8Array(MiB).fill(3) };
    const frame = frameOf({ t: "result", id, ok: true, value });
    const parts = splitAnswerFrame(frame, MiB);
    expect(parts.length).toBe(Math.ceil(frame.byteLength / MiB));
    expect(parts.map((p) => readFrameHeader(p))).toEqual(
      parts.map(() => ({ ok: true, t: "answer.part", id })),
    );
    for (const part of parts.slice(0, -1)) runner.ws.send(part);
    expect(await probe(conn, runner, seen)).toBe("seen");
    // Allocated once for the whole answer at its first part, counted against the budget.
    expect(conn.heldAnswerBytes).toBe(frame.byteLength);
    runner.ws.send(parts.at(-1) as Uint8Array);
    let settled = false;
    void answer.then(() => {
      settled = true;
    });
    while (!settled) {
      slices.runAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expectSameAnswer(await answer, value);
    expect(conn.heldAnswerBytes).toBe(0);
  });

  it("for a call id nobody waits for: each part dropped undecoded and counted; the third ends the link", async () => {
    const codec = countingCodec();
    const { runner, conn, logs } = await connected({ codec });
    const events = linkEvents(conn);
    const decodesBefore = codec.decodes;
    const parts = splitAnswerFrame(
      frameOf({ t: "result", id: 5000, ok: true, value: rows() }),
      MiB,
    );
    for (const part of parts) runner.ws.send(part);
    const reason = await events.closed;
    expect(reason).toMatch(/protocol violation: runner r1 sent 3 frames the parent had no use for/);
    expect(reason).toMatch(/a part of an answer to call id 5000 never begun/);
    const dropped = logs.filter((l) => l.msg.includes("dropped undecoded"));
    expect(dropped.map((l) => l.fields?.frame)).toEqual([
      "a result (in parts) for call id 5000, which nothing waits for",
      "a part of an answer to call id 5000 never begun",
    ]);
    expect(codec.decodes).toBe(decodesBefore);
  });

  it("past its declared total: the call fails PROTOCOL, nothing is decoded, the link lives on", async () => {
    const codec = countingCodec();
    const { runner, conn } = await connected({ codec });
    const seen: number[] = [];
    const answer = call(conn, "echo", null);
    const id = await nextCall(runner, seen);
    const frame = frameOf({ t: "result", id, ok: true, value: rows() });
    const decodesBefore = codec.decodes;
    for (const part of declaring(splitAnswerFrame(frame, MiB), frame.byteLength - 10)) {
      runner.ws.send(part);
    }
    const error = (await rejection(answer)) as FlameError;
    expect(error.code).toBe("PROTOCOL");
    expect(error.message).toMatch(/past its declared total of \d+/);
    expect(codec.decodes).toBe(decodesBefore);
    expect(conn.heldAnswerBytes).toBe(0);
    expect(await probe(conn, runner, seen)).toBe("seen");
  });

  it("declared over maxFrameBytes: refused SERIALIZATION at its first part, the rest skipped uncounted", async () => {
    const codec = countingCodec();
    const { runner, conn, logs } = await connected({ codec, maxFrameBytes: 2 * MiB });
    const seen: number[] = [];
    const answer = call(conn, "echo", null);
    const id = await nextCall(runner, seen);
    const frame = frameOf({ t: "result", id, ok: true, value: rows() });
    expect(frame.byteLength).toBeGreaterThan(2 * MiB);
    const decodesBefore = codec.decodes;
    for (const part of splitAnswerFrame(frame, MiB)) runner.ws.send(part);
    const error = (await rejection(answer)) as FlameError;
    expect(error.code).toBe("SERIALIZATION");
    expect(error.message).toMatch(/over the receiver's 2097152-byte limit \(maxFrameBytes\)/);
    expect(await probe(conn, runner, seen)).toBe("seen");
    expect(logs.filter((l) => l.msg.includes("dropped undecoded"))).toEqual([]);
    // The probe's answer is the one decode.
    expect(codec.decodes).toBe(decodesBefore + 1);
    expect(conn.heldAnswerBytes).toBe(0);
  });

  it("declared over link.answerBudgetBytes: refused OVERLOADED naming the option; the link lives on", async () => {
    const slices = manualSlices();
    const { runner, conn } = await connected({
      slices: slices.queue,
      maxFrameBytes: 4 * MiB,
      answerBudgetBytes: 4 * MiB,
    });
    const seen: number[] = [];
    const first = call(conn, "echo", 1);
    const second = call(conn, "echo", 2);
    const firstId = await nextCall(runner, seen);
    const secondId = await nextCall(runner, seen);
    // The first answer is held (its decode waits for the test's slices) while the second comes.
    for (const part of splitAnswerFrame(
      frameOf({ t: "result", id: firstId, ok: true, value: rows() }),
      MiB,
    )) {
      runner.ws.send(part);
    }
    for (const part of splitAnswerFrame(
      frameOf({ t: "result", id: secondId, ok: true, value: rows() }),
      MiB,
    )) {
      runner.ws.send(part);
    }
    const refused = (await rejection(second)) as FlameError;
    expect(refused.code).toBe("OVERLOADED");
    expect(refused.message).toMatch(/link\.answerBudgetBytes is 4194304/);
    let settled = false;
    void first.then(() => {
      settled = true;
    });
    while (!settled) {
      slices.runAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(((await first) as unknown[]).length).toBe(300_000);
    expect(await probe(conn, runner, seen)).toBe("seen");
  });

  it("interleaved with the parts of another call's answer: the link ends as a protocol violation", async () => {
    const { runner, conn } = await connected();
    const events = linkEvents(conn);
    const seen: number[] = [];
    const a = call(conn, "echo", "a").catch((e: unknown) => e);
    const b = call(conn, "echo", "b").catch((e: unknown) => e);
    const aId = await nextCall(runner, seen);
    const bId = await nextCall(runner, seen);
    const partsOf = (id: number) =>
      splitAnswerFrame(frameOf({ t: "result", id, ok: true, value: rows() }), MiB);
    runner.ws.send(partsOf(aId)[0] as Uint8Array);
    runner.ws.send(partsOf(bId)[0] as Uint8Array);
    expect(await events.closed).toMatch(
      new RegExp(
        `protocol violation: runner r1 sent a part of its answer to call id ${bId} while its answer to call id ${aId} was arriving part by part`,
      ),
    );
    // The link answers nothing itself: the core fails both calls (RUNNER_DOWN) on the close.
    expect(conn.heldAnswerBytes).toBe(0);
    void a;
    void b;
  });
});
