/**
 * The critical-path split (src/critical-path.ts) follows each call at 1 through the stamps of
 * both processes: the legs it reports must be the gaps between one call's own stamps, it must
 * leave out what was sent outside the measured runs, and it must refuse stamps that do not
 * line up rather than report legs of the wrong calls. Synthetic stamps: no timing is measured.
 */
import { describe, expect, it } from "vitest";
import { LEGS, type LinkStamps, splitRoundTrips } from "../src/critical-path.js";

/** One call's stamps, in ns from `at`: sent, frame in, posted, answer in, answer out, back. */
function call(at: number, gaps: readonly number[]): number[] {
  const stamps = [at];
  for (const gap of gaps) stamps.push((stamps.at(-1) as number) + gap);
  return stamps;
}

/** Parent and peer stamps of calls at 1; each call's next send comes `turnNs` after its answer. */
function stampsOf(
  calls: readonly (readonly number[])[],
  turnNs: number,
): { parent: LinkStamps; peer: LinkStamps } {
  const parent: LinkStamps = { wsSend: [], wsMessage: [], toThread: [], fromThread: [] };
  const peer: LinkStamps = { wsSend: [], wsMessage: [], toThread: [], fromThread: [] };
  let at = 1_000;
  for (const gaps of calls) {
    const [sent, frameIn, posted, answerIn, answerOut, back] = call(at, gaps) as number[];
    parent.wsSend.push(sent as number);
    peer.wsMessage.push(frameIn as number);
    peer.toThread.push(posted as number);
    peer.fromThread.push(answerIn as number);
    peer.wsSend.push(answerOut as number);
    parent.wsMessage.push(back as number);
    at = (back as number) + turnNs;
  }
  // The call that ends the last round trip.
  parent.wsSend.push(at);
  return { parent, peer };
}

const everything = [{ startNs: 0, endNs: Number.MAX_SAFE_INTEGER }];

describe("critical path split", () => {
  it("reports each call's legs as the gaps between its own stamps, in order", () => {
    const { parent, peer } = stampsOf(
      [
        [20_000, 4_000, 50_000, 2_000, 25_000],
        [21_000, 5_000, 51_000, 3_000, 26_000],
      ],
      12_000,
    );
    const legs = splitRoundTrips(parent, peer, everything);
    expect(LEGS.map((leg) => legs[leg])).toEqual([
      [20_000, 21_000],
      [4_000, 5_000],
      [50_000, 51_000],
      [2_000, 3_000],
      [25_000, 26_000],
      [12_000, 12_000],
    ]);
  });

  it("leaves out calls sent outside the measured runs", () => {
    const { parent, peer } = stampsOf(
      [
        [1, 1, 1, 1, 1],
        [20_000, 4_000, 50_000, 2_000, 25_000],
      ],
      12_000,
    );
    // The first call (a warm-up) is sent before the window opens.
    const window = { startNs: (parent.wsSend[1] as number) - 1, endNs: Number.MAX_SAFE_INTEGER };
    const legs = splitRoundTrips(parent, peer, [window]);
    expect(legs[LEGS[0]]).toEqual([20_000]);
    expect(legs[LEGS[5]]).toEqual([12_000]);
  });

  it("refuses stamps whose answers do not come back before the next call", () => {
    const { parent, peer } = stampsOf(
      [
        [20_000, 4_000, 50_000, 2_000, 25_000],
        [20_000, 4_000, 50_000, 2_000, 25_000],
      ],
      12_000,
    );
    // A frame the split does not expect: the peer's sends start late, one call behind.
    peer.wsSend.shift();
    expect(() => splitRoundTrips(parent, peer, everything)).toThrow(
      /critical path: 1 of 2 calls matched/,
    );
  });

  it("says how to stamp a peer that stamped nothing", () => {
    const { parent } = stampsOf([[20_000, 4_000, 50_000, 2_000, 25_000]], 12_000);
    const silent: LinkStamps = { wsSend: [], wsMessage: [], toThread: [], fromThread: [] };
    expect(() => splitRoundTrips(parent, silent, everything)).toThrow(
      /--import fixtures\/link-stamps-preload\.mjs/,
    );
  });
});
