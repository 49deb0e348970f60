/**
 * What the hostile-runner tests share: a codec that counts decodes, a slice queue the test
 * drives by hand, and a RunnerServer with a FakeRunner connected to it.
 */
import { isDeepStrictEqual } from "node:util";
import { expect } from "vitest";
import { SliceQueue } from "../../src/link/decode-slices.js";
import { type LinkLogLevel, RunnerServer } from "../../src/link/index.js";
import {
  type AnyMessage,
  type Codec,
  encodeFrame,
  generateToken,
  v8Codec,
} from "../../src/protocol.js";
import { FakeRunner, isT } from "./fake-runner.js";

/** v8Codec, counting every decode it is asked for (whole or in slices). */
export function countingCodec(): Codec & { decodes: number } {
  const codec = {
    name: "v8",
    decodes: 0,
    encode: v8Codec.encode,
    decode(bytes: Uint8Array): unknown {
      codec.decodes++;
      return v8Codec.decode(bytes);
    },
    decodeInSlices(bytes: Uint8Array) {
      codec.decodes++;
      return v8Codec.decodeInSlices?.(bytes) ?? { step: () => true, value: v8Codec.decode(bytes) };
    },
  };
  return codec;
}

/** Slices run only when the test says so. */
export function manualSlices(): { queue: SliceQueue; runAll(): number } {
  const due: Array<() => void> = [];
  const queue = new SliceQueue((fn) => due.push(fn));
  return {
    queue,
    runAll() {
      let ran = 0;
      for (let fn = due.shift(); fn !== undefined; fn = due.shift()) {
        fn();
        ran++;
      }
      return ran;
    },
  };
}

export interface Logged {
  level: LinkLogLevel;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

/** A server and a welcomed FakeRunner; `cleanups` gets what closes them. */
export async function connected(
  cleanups: Array<() => unknown>,
  options: Parameters<typeof RunnerServer.listen>[0] = {},
) {
  const logs: Logged[] = [];
  const server = await RunnerServer.listen({
    maxFrameBytes: 32 * 1024 * 1024,
    ...options,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  cleanups.push(() => server.close());
  const token = generateToken();
  const expecting = server.expect("r1", token, AbortSignal.timeout(10_000));
  const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
  cleanups.push(() => runner.close());
  runner.hello("r1");
  const conn = await expecting;
  await runner.next(isT("welcome"));
  return { server, logs, runner, conn };
}

export function frameOf(msg: AnyMessage): Buffer {
  return encodeFrame(msg, v8Codec, 64 * 1024 * 1024);
}

/** The same frame for another call id (bytes 4..7 of the header). */
export function withId(frame: Buffer, id: number): Buffer {
  const copy = Buffer.from(frame);
  copy.writeUInt32BE(id, 4);
  return copy;
}

/**
 * `expect(actual).toEqual(expected)` for a large answer, fast when they are equal. vitest's
 * equality walks a 1 MiB Uint8Array element by element: 10 of the 12 s this took at load 12, and
 * past the 30 s test timeout in a whole-suite run on Node 24 under load. Node's deep equality
 * compares typed arrays as bytes; vitest's runs only on a mismatch, for its diff.
 */
export function expectSameAnswer(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}
