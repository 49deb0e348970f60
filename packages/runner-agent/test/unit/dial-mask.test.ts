/**
 * A runner sends its frames with an all-zero masking key (dial.ts, issue 22 row 2): the
 * parent's ws then skips unmasking every byte of every answer. Read from the bytes the parent
 * received on the wire, after the upgrade: the first frame is the hello.
 */
import { v8Codec } from "@flame-ts/pool-core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { dialOnce } from "../../src/dial.js";
import { descriptor } from "../agent-process.js";
import { FakeParent } from "../fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The first ws frame the runner wrote after its upgrade request: mask bit, key, payload. */
function firstFrameAfterUpgrade(bytes: Buffer) {
  const upgrade = bytes.indexOf("Upgrade: websocket", 0, "latin1");
  const start = bytes.indexOf("\r\n\r\n", upgrade, "latin1") + 4;
  const lengthByte = (bytes[start + 1] ?? 0) & 0x7f;
  const keyAt = start + 2 + (lengthByte === 126 ? 2 : lengthByte === 127 ? 8 : 0);
  const length = lengthByte === 126 ? bytes.readUInt16BE(start + 2) : lengthByte;
  return {
    masked: ((bytes[start + 1] ?? 0) & 0x80) !== 0,
    key: [...bytes.subarray(keyAt, keyAt + 4)],
    payload: bytes.subarray(keyAt + 4, keyAt + 4 + length),
  };
}

describe("dialOnce", () => {
  it("masks the runner's frames with a zero key: the payload travels as it is", async () => {
    const parent = await FakeParent.listen();
    cleanups.push(() => parent.close());
    const dialed = await dialOnce(
      descriptor(parent),
      v8Codec,
      {
        entry: null,
        threads: 1,
        known: () => ["echo"],
        loaded: Promise.resolve(["echo"]),
        onLoading() {},
      },
      AbortSignal.timeout(10_000),
    );
    expect(dialed.kind).toBe("welcomed");
    if (dialed.kind === "welcomed") cleanups.push(() => dialed.link.ws.terminate());
    const frame = firstFrameAfterUpgrade(Buffer.concat(parent.bytesSeen));
    // Still a client frame as RFC 6455 requires (the mask bit is set), with a key of zeros.
    expect(frame.masked).toBe(true);
    expect(frame.key).toEqual([0, 0, 0, 0]);
    expect(frame.payload[0]).toBe(0xf1); // the flame-ts frame's magic byte, unmasked
  });
});
