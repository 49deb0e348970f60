/**
 * `npm run bench:codec -w @flame-ts/bench`: the codec choice of issue 7, measured.
 * node:v8 vs msgpackr (structured-clone mode) on the messages the call path sends: cost of
 * encode+decode per message, encoded size, and which value types survive a round trip.
 */
import { performance } from "node:perf_hooks";
import { isDeepStrictEqual } from "node:util";
import { deserialize, serialize } from "node:v8";
import { Packr } from "msgpackr";

interface Candidate {
  readonly name: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

// Two instances, as on the wire: the decoder never shares the encoder's record structures.
// (`sequential: true` shrinks frames further but makes every frame depend on all earlier
// ones reaching the same decoder, which a refused oversize frame would break.)
const packOptions = { structuredClone: true, moreTypes: true };
const packer = new Packr(packOptions);
const unpacker = new Packr(packOptions);
const candidates: Candidate[] = [
  { name: "v8", encode: (v) => serialize(v), decode: (b) => deserialize(b) },
  { name: "msgpackr", encode: (v) => packer.pack(v), decode: (b) => unpacker.unpack(b) },
];

const messages: Record<string, unknown> = {
  "call {n:1}": { t: "call", id: 12345, fn: "bench.echo", args: { n: 1 }, deadlineMs: 1.7e12 },
  "result {n:1}": { t: "result", id: 12345, ok: true, value: { n: 1 } },
  "call 1 KB bytes": { t: "call", id: 1, fn: "f", args: new Uint8Array(1024), deadlineMs: null },
  "call 64 KB bytes": { t: "call", id: 1, fn: "f", args: new Uint8Array(65536), deadlineMs: null },
  "call object x100": {
    t: "call",
    id: 1,
    fn: "f",
    args: Array.from({ length: 100 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ["a", "b"] })),
    deadlineMs: null,
  },
};

const fidelity: Record<string, unknown> = {
  Date: new Date(1_700_000_000_000),
  Map: new Map([["a", 1]]),
  Set: new Set([1, 2]),
  BigInt: 2n ** 70n,
  Uint8Array: new Uint8Array([1, 2, 3]),
  Float64Array: new Float64Array([1.5]),
  Error: new TypeError("boom"),
  undefined: { a: undefined },
  cycle: (() => {
    const o: { self?: unknown } = {};
    o.self = o;
    return o;
  })(),
};

function nsPerRoundTrip(candidate: Candidate, message: unknown, budgetMs: number): number {
  let iterations = 0;
  const startedMs = performance.now();
  while (performance.now() - startedMs < budgetMs) {
    for (let i = 0; i < 100; i++) candidate.decode(candidate.encode(message));
    iterations += 100;
  }
  return ((performance.now() - startedMs) * 1e6) / iterations;
}

function survives(candidate: Candidate, value: unknown): boolean {
  try {
    const back = candidate.decode(candidate.encode(value));
    if (value instanceof Error) {
      return back instanceof Error && back.message === value.message && back.name === value.name;
    }
    if (value && typeof value === "object" && "self" in value) {
      return (back as { self?: unknown }).self === back;
    }
    return (
      isDeepStrictEqual(back, value) && Object.getPrototypeOf(back) === Object.getPrototypeOf(value)
    );
  } catch {
    return false;
  }
}

const budgetMs = process.argv.includes("--smoke") ? 20 : 300;
const rows: string[][] = [["message", ...candidates.flatMap((c) => [`${c.name} ns`, "bytes"])]];
for (const [label, message] of Object.entries(messages)) {
  for (const c of candidates) nsPerRoundTrip(c, message, budgetMs / 3); // warm-up
  rows.push([
    label,
    ...candidates.flatMap((c) => [
      nsPerRoundTrip(c, message, budgetMs).toFixed(0),
      String(c.encode(message).byteLength),
    ]),
  ]);
}
rows.push(["", ...candidates.flatMap(() => ["", ""])]);
for (const [label, value] of Object.entries(fidelity)) {
  rows.push([
    `keeps ${label}`,
    ...candidates.flatMap((c) => [survives(c, value) ? "yes" : "NO", ""]),
  ]);
}
const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
for (const row of rows) {
  process.stdout.write(
    `${row
      .map((cell, col) => cell.padEnd(widths[col]!))
      .join("  ")
      .trimEnd()}\n`,
  );
}
