/**
 * Protocol 7: tracked resources on the wire. A result may say its value holds tracked
 * references (answer flag), a call may be pinned to the call that holds them (`on`), and the
 * parent releases each resource (`release`), answered by `released`.
 */
import { describe, expect, it } from "vitest";
import { v8Codec } from "../../src/protocol/codec.js";
import {
  decodeFrame,
  encodeFrame,
  encodeRequestFrame,
  FRAME_HEADER_BYTES,
} from "../../src/protocol/frame.js";
import type { AnyMessage } from "../../src/protocol/messages.js";
import {
  formatTrackedRef,
  parseTrackedRef,
  replaceTrackedRefs,
  TRACKED_KEY,
  trackedRefOf,
} from "../../src/wire/index.js";

const MAX = 1024 * 1024;
const bytes = (value: unknown): Uint8Array => new Uint8Array(v8Codec.encode(value));

function decoded(frame: Uint8Array): AnyMessage {
  const out = decodeFrame(frame, v8Codec, MAX);
  if (!out.ok) throw new Error(`decode failed: ${out.message}`);
  return out.msg;
}

describe("pinned calls", () => {
  it("carry the holder's call id, and a call without it is not pinned", () => {
    const pinned: AnyMessage = {
      ...{ t: "call", id: 9, fn: "f", args: bytes(1), timeoutMs: 50 },
      ...{ on: 4, onIndex: 2 },
    } as const;
    expect(decoded(encodeFrame(pinned, v8Codec, MAX))).toMatchObject({ on: 4, onIndex: 2 });
    const free = { t: "call", id: 9, fn: "f", args: bytes(1), timeoutMs: 50 } as const;
    expect(decoded(encodeFrame(free, v8Codec, MAX))).not.toHaveProperty("on");
  });

  it("keep key, traceparent and input intact around `on` (the parent's encoder)", () => {
    const work = {
      t: "call",
      id: 12,
      fn: "use-model",
      timeoutMs: null,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      idempotencyKey: "k-1",
      attempt: 1,
      on: 0xfffffffe,
      onIndex: 7,
    } as const;
    const msg = decoded(encodeRequestFrame(work, { prompt: "hi" }, v8Codec, MAX));
    expect(msg).toMatchObject({
      t: "call",
      on: 0xfffffffe,
      onIndex: 7,
      idempotencyKey: "k-1",
      traceparent: work.traceparent,
    });
    expect(v8Codec.decode((msg as { args: Uint8Array }).args)).toEqual({ prompt: "hi" });
  });

  it("are refused on a cast, and when `on` is cut short", () => {
    const call = encodeFrame(
      { t: "call", id: 3, fn: "f", args: new Uint8Array(), timeoutMs: null, on: 7 },
      v8Codec,
      MAX,
    );
    const cut = decodeFrame(call.subarray(0, call.byteLength - 2), v8Codec, MAX);
    expect(cut).toMatchObject({ ok: false, id: 3, code: "PROTOCOL" });
    const cast = Buffer.from(
      encodeFrame({ t: "cast", id: 3, fn: "f", args: bytes(1) }, v8Codec, MAX),
    );
    cast[FRAME_HEADER_BYTES] = (cast[FRAME_HEADER_BYTES] ?? 0) | 4;
    const refused = decodeFrame(cast, v8Codec, MAX);
    expect(refused).toMatchObject({ ok: false, code: "PROTOCOL" });
    expect(refused.ok ? "" : refused.message).toMatch(/can't be pinned/);
  });
});

describe("tracked results", () => {
  it("say so with a flag, and a plain result does not", () => {
    const value = { model: { [TRACKED_KEY]: "r-1/5/0" } };
    const tracked = { t: "result", id: 5, ok: true, value, tracked: true } as const;
    expect(decoded(encodeFrame(tracked, v8Codec, MAX))).toEqual(tracked);
    const plain = { t: "result", id: 5, ok: true, value } as const;
    expect(decoded(encodeFrame(plain, v8Codec, MAX))).toEqual(plain);
  });

  it("only as a successful result: the flag on a failure or a child's exit is refused", () => {
    const failed = Buffer.from(
      encodeFrame(
        {
          t: "result",
          id: 5,
          ok: false,
          error: { code: "REMOTE_ERROR", name: "Error", message: "x" },
        },
        v8Codec,
        MAX,
      ),
    );
    failed[FRAME_HEADER_BYTES] = (failed[FRAME_HEADER_BYTES] ?? 0) | 8;
    expect(decodeFrame(failed, v8Codec, MAX)).toMatchObject({ ok: false, id: 5 });
    const exit = Buffer.from(
      encodeFrame({ t: "child.exit", id: 6, ok: true, value: 1 }, v8Codec, MAX),
    );
    exit[FRAME_HEADER_BYTES] = (exit[FRAME_HEADER_BYTES] ?? 0) | 8;
    expect(decodeFrame(exit, v8Codec, MAX)).toMatchObject({ ok: false, id: 6 });
  });
});

describe("release and released", () => {
  it("round-trip, with a dispose error or a loss", () => {
    const messages: AnyMessage[] = [
      { t: "release", id: 5, index: 2 },
      { t: "released", id: 5, index: 2 },
      {
        t: "released",
        id: 5,
        index: 0,
        error: { code: "REMOTE_ERROR", name: "Error", message: "close failed" },
      },
      { t: "released", id: 5, index: 1, lost: true },
    ];
    for (const msg of messages) expect(decoded(encodeFrame(msg, v8Codec, MAX))).toEqual(msg);
  });

  it("are refused with a bad index", () => {
    const bad = { t: "release", id: 5, index: -1 } as unknown as AnyMessage;
    const out = decodeFrame(encodeFrame(bad, v8Codec, MAX), v8Codec, MAX);
    expect(out).toMatchObject({ ok: false, code: "PROTOCOL" });
    expect(out.ok ? "" : out.message).toMatch(/index/);
  });
});

describe("tracked references", () => {
  it("name runner, call and index, read from the end", () => {
    const ref = { runnerId: "app/pool-1a2b-3", group: 17, index: 2 };
    expect(parseTrackedRef(formatTrackedRef(ref))).toEqual(ref);
    expect(parseTrackedRef("r-1/x/0")).toBeNull();
    expect(parseTrackedRef("17/2")).toBeNull();
    expect(parseTrackedRef("r/1/-2")).toBeNull();
  });

  it("are found on any object carrying the key as a string, and only there", () => {
    expect(trackedRefOf({ [TRACKED_KEY]: "r/1/0" })).toBe("r/1/0");
    expect(trackedRefOf({ [TRACKED_KEY]: 1 })).toBeUndefined();
    expect(trackedRefOf("r/1/0")).toBeUndefined();
    expect(trackedRefOf(null)).toBeUndefined();
  });
});

describe("replaceTrackedRefs", () => {
  const ref = (n: number): object => ({ [TRACKED_KEY]: `r/1/${n}` });

  it("finds references at any depth in objects, arrays, Maps and Sets, and replaces them", () => {
    const inSet = ref(3);
    const value = {
      a: ref(0),
      list: [1, { deep: ref(1) }],
      map: new Map([["m", ref(2)]]),
      set: new Set([inSet]),
    };
    const seen: string[] = [];
    const out = replaceTrackedRefs(value, (r) => {
      seen.push(r);
      return `handle ${r}`;
    }) as typeof value;
    expect(seen.sort()).toEqual(["r/1/0", "r/1/1", "r/1/2", "r/1/3"]);
    expect(out.a).toBe("handle r/1/0");
    expect(out.list[1]).toEqual({ deep: "handle r/1/1" });
    expect(out.map.get("m")).toBe("handle r/1/2");
    expect([...out.set]).toEqual(["handle r/1/3"]);
  });

  it("replaces a reference that is the whole value, survives a cycle, and leaves bytes alone", () => {
    expect(replaceTrackedRefs(ref(0), () => "h")).toBe("h");
    const cyclic: Record<string, unknown> = { r: ref(1), bytes: new Uint8Array([1, 2]) };
    cyclic.self = cyclic;
    const seen: string[] = [];
    replaceTrackedRefs(cyclic, (r) => seen.push(r));
    expect(seen).toEqual(["r/1/1"]);
    expect(cyclic.bytes).toEqual(new Uint8Array([1, 2]));
  });
});
