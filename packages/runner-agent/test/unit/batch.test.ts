import { describe, expect, it } from "vitest";
import {
  type AnswerBatch,
  AnswerBatchWriter,
  readAnswerBatch,
} from "../../src/executor/answer-batch.js";
import {
  APART_BYTES,
  heldInput,
  type Posted,
  posted,
  readTaskBatch,
  type TaskBatch,
  TaskBatchWriter,
  type UnpackedTask,
} from "../../src/executor/batch.js";

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe("task batches to a worker thread", () => {
  it("carry every field of every task, in order", () => {
    const writer = new TaskBatchWriter();
    expect(writer.empty).toBe(true);
    const big = bytes(APART_BYTES + 1, 7);
    writer.add({
      id: 1,
      kind: "call",
      fn: "thumbnail",
      input: bytes(3, 1),
      deadlineMs: 1.5e12,
      traceparent: undefined,
    });
    writer.add({
      id: 0xfffffffe,
      kind: "cast",
      fn: "größe·πr²",
      input: big,
      deadlineMs: null,
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    });
    writer.add({
      id: 3,
      kind: "child",
      fn: "f",
      input: new Uint8Array(0),
      deadlineMs: null,
      traceparent: "",
    });
    expect(writer.empty).toBe(false);
    const { batch, transfer } = writer.take();
    expect(writer.empty).toBe(true);
    // The large input travels as its own buffer, transferred, not copied into the batch.
    expect(batch.apart).toEqual([big]);
    expect(batch.apart[0]).toBe(big);
    expect(transfer).toContain(big.buffer);
    expect(batch.packed.byteLength).toBeLessThan(APART_BYTES);
    const tasks: UnpackedTask[] = [];
    readTaskBatch(
      structuredClone(batch),
      (t) => tasks.push(t),
      () => {},
    );
    expect(
      tasks.map((t) => ({ ...t, input: [...t.input.subarray(0, 3)], size: t.input.byteLength })),
    ).toEqual([
      {
        id: 1,
        kind: "call",
        fn: "thumbnail",
        input: [1, 1, 1],
        inputOwned: false,
        size: 3,
        deadlineMs: 1.5e12,
        traceparent: undefined,
        idempotencyKey: undefined,
        attempt: 1,
        on: undefined,
        onIndex: 0,
        staging: undefined,
      },
      {
        id: 0xfffffffe,
        kind: "cast",
        fn: "größe·πr²",
        input: [7, 7, 7],
        // Apart: its buffer is its frame's alone, so the codec may leave it a view.
        inputOwned: true,
        size: APART_BYTES + 1,
        deadlineMs: null,
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        idempotencyKey: undefined,
        attempt: 1,
        on: undefined,
        onIndex: 0,
        staging: undefined,
      },
      {
        id: 3,
        kind: "child",
        fn: "f",
        input: [],
        inputOwned: false,
        size: 0,
        deadlineMs: null,
        traceparent: "",
        idempotencyKey: undefined,
        attempt: 1,
        on: undefined,
        onIndex: 0,
        staging: undefined,
      },
    ]);
  });

  it("carry a call's attempt and idempotency key between its traceparent and its input", () => {
    const writer = new TaskBatchWriter();
    const key = "3f1c9a52-0d7e-4c1b-9a55-2b6f0e0c1d2e";
    writer.add({
      id: 5,
      kind: "call",
      fn: "charge",
      input: bytes(2, 9),
      deadlineMs: null,
      traceparent: "tp",
      idempotencyKey: key,
      attempt: 2,
    });
    writer.add({
      id: 6,
      kind: "call",
      fn: "f",
      input: bytes(1, 4),
      deadlineMs: null,
      traceparent: undefined,
      idempotencyKey: "ключ·🔑",
      attempt: 101,
    });
    const tasks: UnpackedTask[] = [];
    readTaskBatch(
      structuredClone(writer.take().batch),
      (t) => tasks.push(t),
      () => {},
    );
    expect(tasks.map((t) => ({ ...t, input: [...t.input] }))).toStrictEqual([
      {
        id: 5,
        kind: "call",
        fn: "charge",
        input: [9, 9],
        inputOwned: false,
        deadlineMs: null,
        traceparent: "tp",
        idempotencyKey: key,
        attempt: 2,
        on: undefined,
        onIndex: 0,
        staging: undefined,
      },
      {
        id: 6,
        kind: "call",
        fn: "f",
        input: [4],
        inputOwned: false,
        deadlineMs: null,
        traceparent: undefined,
        idempotencyKey: "ключ·🔑",
        attempt: 101,
        on: undefined,
        onIndex: 0,
        staging: undefined,
      },
    ]);
  });

  it("keep tasks and orders in the order they were given: a call after a cancel sees it applied, a release comes after the pinned call sent before it", () => {
    const writer = new TaskBatchWriter();
    const task = (id: number) => ({
      id,
      kind: "call" as const,
      fn: "f",
      input: bytes(1, id),
      deadlineMs: null,
      traceparent: undefined,
    });
    const cancelled = { code: "ABORTED", name: "FlameError", message: "cancelled by the caller" };
    writer.order({ op: "abort", id: 7, error: cancelled }); // a task of an earlier batch
    writer.add(task(8));
    writer.order({ op: "abort", id: 8, error: cancelled });
    writer.add({ ...task(9), on: 4 });
    writer.order({ op: "release", group: 4, index: 1 });
    writer.add(task(10));
    writer.order({ op: "abort", id: 9, error: cancelled });
    writer.order({ op: "discard", group: 10 });
    const seen: string[] = [];
    readTaskBatch(
      structuredClone(writer.take().batch),
      (t) => seen.push(`run ${t.id}${t.on === undefined ? "" : ` on ${t.on}`}`),
      (order) =>
        seen.push(
          order.op === "abort"
            ? `abort ${order.id} ${order.error.code}`
            : order.op === "release"
              ? `release ${order.group}/${order.index}`
              : `discard ${order.group}`,
        ),
    );
    expect(seen).toEqual([
      "abort 7 ABORTED",
      "run 8",
      "abort 8 ABORTED",
      "run 9 on 4",
      "release 4/1",
      "run 10",
      "abort 9 ABORTED",
      "discard 10",
    ]);
  });

  it("carry a pinned call's group (any u32) between its key and its input", () => {
    const writer = new TaskBatchWriter();
    const big = bytes(APART_BYTES, 3);
    const base = { kind: "call" as const, fn: "infer", deadlineMs: null, traceparent: "tp" };
    writer.add({ ...base, id: 1, input: bytes(2, 8), idempotencyKey: "k", on: 0xfffffffe });
    writer.add({ ...base, id: 2, input: big, on: 0 });
    writer.add({ ...base, id: 3, input: bytes(1, 6) });
    const tasks: UnpackedTask[] = [];
    readTaskBatch(
      structuredClone(writer.take().batch),
      (t) => tasks.push(t),
      () => {},
    );
    expect(
      tasks.map((t) => [t.id, t.on, t.idempotencyKey, t.input.byteLength, t.input[0]]),
    ).toEqual([
      [1, 0xfffffffe, "k", 2, 8],
      [2, 0, undefined, APART_BYTES, 3],
      [3, undefined, undefined, 1, 6],
    ]);
  });

  it("copies a large input that does not own its memory before transferring it", () => {
    const chunk = bytes(APART_BYTES * 2, 9);
    const view = chunk.subarray(1, APART_BYTES + 1);
    const writer = new TaskBatchWriter();
    writer.add({
      id: 1,
      kind: "call",
      fn: "f",
      input: view,
      deadlineMs: null,
      traceparent: undefined,
    });
    const { batch, transfer } = writer.take();
    expect(transfer).not.toContain(chunk.buffer);
    expect(batch.apart[0]?.byteLength).toBe(APART_BYTES);
  });

  it("transfers the frame a large input ends without copying it, when only a frame header precedes it", () => {
    // A frame as ws assembles it: the header and envelope, then the input to the end.
    const frame = bytes(40 + APART_BYTES, 5);
    frame.fill(1, 0, 40);
    const input = frame.subarray(40);
    const writer = new TaskBatchWriter();
    writer.add({ id: 1, kind: "call", fn: "f", input, deadlineMs: null, traceparent: undefined });
    const { batch, transfer } = writer.take();
    expect(batch.apart[0]).toBe(input);
    expect(transfer).toContain(frame.buffer);
    // As postMessage does: the main thread's frame is gone, the thread reads the input alone.
    const received = structuredClone(batch, { transfer });
    expect(frame.byteLength).toBe(0);
    const inputs: Uint8Array[] = [];
    readTaskBatch(
      received,
      (t) => inputs.push(t.input),
      () => {},
    );
    expect(inputs[0]?.byteLength).toBe(APART_BYTES);
    expect(inputs[0]?.every((b) => b === 5)).toBe(true);
  });

  it("a held (queued) small input stays readable when a large input's transfer takes the buffer they share", () => {
    // One buffer: a small call's input, then a large call's frame header and input to the end.
    const chunk = bytes(200 + APART_BYTES, 5);
    chunk.fill(7, 8, 108);
    const small = chunk.subarray(8, 108);
    const large = chunk.subarray(200);
    const held = heldInput(small);
    expect(heldInput(large)).toBe(large);
    const writer = new TaskBatchWriter();
    writer.add({
      id: 2,
      kind: "call",
      fn: "f",
      input: large,
      deadlineMs: null,
      traceparent: undefined,
    });
    const { batch, transfer } = writer.take();
    expect(transfer).toContain(chunk.buffer);
    structuredClone(batch, { transfer });
    expect(small.byteLength).toBe(0);
    expect(held.byteLength).toBe(100);
    expect(held.every((b) => b === 7)).toBe(true);
  });

  it("copies a large input with more than a frame header before it: its buffer holds other data", () => {
    const chunk = bytes(8 * 1024 + APART_BYTES, 6);
    const input = chunk.subarray(8 * 1024);
    const writer = new TaskBatchWriter();
    writer.add({ id: 1, kind: "call", fn: "f", input, deadlineMs: null, traceparent: undefined });
    const { batch, transfer } = writer.take();
    expect(transfer).not.toContain(chunk.buffer);
    const received = structuredClone(batch, { transfer });
    expect(chunk.byteLength).toBe(8 * 1024 + APART_BYTES);
    expect(received.apart[0]?.byteLength).toBe(APART_BYTES);
  });

  it("cross as their bytes alone when they hold only packed tasks, and read the same", () => {
    const task = (id: number, input: Uint8Array) =>
      ({ id, kind: "call", fn: "f", input, deadlineMs: null, traceparent: undefined }) as const;
    const read = (message: Posted<TaskBatch>) => {
      const seen: unknown[] = [];
      readTaskBatch(
        structuredClone(message),
        (t) => seen.push([t.id, [...t.input.subarray(0, 2)], t.input.byteLength]),
        (o) => seen.push(o),
      );
      return seen;
    };
    const writer = new TaskBatchWriter();
    writer.add(task(1, bytes(2, 4)));
    writer.add(task(2, bytes(1, 5)));
    const plain = writer.take().batch;
    const bare = posted(plain, plain.orders);
    expect(bare).toBeInstanceOf(Uint8Array);
    expect(read(bare)).toEqual([
      [1, [4, 4], 2],
      [2, [5], 1],
    ]);
    // An order, or an input apart, keeps the batch an object: they travel beside the bytes.
    writer.add(task(3, bytes(1, 6)));
    writer.order({ op: "discard", group: 1 });
    const withOrder = writer.take().batch;
    expect(posted(withOrder, withOrder.orders)).toBe(withOrder);
    expect(read(posted(withOrder, withOrder.orders))).toEqual([
      [3, [6], 1],
      { op: "discard", group: 1 },
    ]);
    writer.add(task(4, bytes(APART_BYTES, 7)));
    const withApart = writer.take().batch;
    expect(posted(withApart, withApart.orders)).toBe(withApart);
    expect(read(posted(withApart, withApart.orders))).toEqual([[4, [7, 7], APART_BYTES]]);
  });
});

describe("answer batches from a worker thread", () => {
  it("carry each answer frame with its id, in order, large ones apart", () => {
    const writer = new AnswerBatchWriter();
    const big = bytes(APART_BYTES, 5);
    writer.add(10, bytes(4, 1));
    writer.add(11, big);
    writer.add(12, bytes(0, 0));
    const { batch, transfer } = writer.take();
    expect(writer.empty).toBe(true);
    expect(batch.apart[0]).toBe(big);
    expect(transfer).toContain(big.buffer);
    const seen: [number, number[]][] = [];
    readAnswerBatch(structuredClone(batch), (id, frame) =>
      seen.push([id, [...frame.subarray(0, 2)]]),
    );
    expect(seen).toEqual([
      [10, [1, 1]],
      [11, [5, 5]],
      [12, []],
    ]);
  });

  it("carry the tracked values each result keeps, then the released reports, after the answers", () => {
    const writer = new AnswerBatchWriter();
    const big = bytes(APART_BYTES, 2);
    writer.released({ group: 3, index: 0 });
    writer.add(20, bytes(3, 1), [0, 2, 0xfffffffe]);
    writer.add(21, big, [5]);
    writer.add(22, bytes(1, 9));
    const failed = { code: "REMOTE_ERROR", name: "Error", message: "close failed" };
    writer.released({ group: 20, index: 1, error: failed });
    expect(writer.empty).toBe(false);
    const { batch } = writer.take();
    expect(writer.empty).toBe(true);
    const seen: unknown[] = [];
    readAnswerBatch(
      structuredClone(batch),
      (id, frame, tracked) => seen.push([id, frame.byteLength, frame[0], tracked]),
      (report) => seen.push(report),
    );
    expect(seen).toEqual([
      [20, 3, 1, [0, 2, 0xfffffffe]],
      [21, APART_BYTES, 2, [5]],
      [22, 1, 9, []],
      { group: 3, index: 0 },
      { group: 20, index: 1, error: failed },
    ]);
  });

  it("cross as their bytes alone when they hold only packed answers, and read the same", () => {
    const read = (message: Posted<AnswerBatch>) => {
      const seen: unknown[] = [];
      readAnswerBatch(
        structuredClone(message),
        (id, frame, tracked) => seen.push([id, [...frame], tracked]),
        (report) => seen.push(report),
      );
      return seen;
    };
    const writer = new AnswerBatchWriter();
    writer.add(30, bytes(2, 3), [1]);
    writer.add(31, bytes(1, 4));
    const plain = writer.take().batch;
    const bare = posted(plain, plain.released);
    expect(bare).toBeInstanceOf(Uint8Array);
    expect(read(bare)).toEqual([
      [30, [3, 3], [1]],
      [31, [4], []],
    ]);
    // A released report travels beside the bytes: the batch stays an object.
    writer.add(32, bytes(1, 5));
    writer.released({ group: 30, index: 1 });
    const withReport = writer.take().batch;
    expect(posted(withReport, withReport.released)).toBe(withReport);
    expect(read(posted(withReport, withReport.released))).toEqual([
      [32, [5], []],
      { group: 30, index: 1 },
    ]);
  });

  it("a batch of released reports alone is not empty", () => {
    const writer = new AnswerBatchWriter();
    writer.released({ group: 1, index: 0 });
    expect(writer.empty).toBe(false);
  });
});
