/**
 * The free-slot index (load-index.ts) on its own: each runner's place is kept on the runner
 * (`freeSlot`), so a swap-remove that forgets to move the runner it swapped in, or a remove
 * that trusts a stale slot, breaks it. The model test checks every answer against a plain list.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LoadIndex, NOT_INDEXED } from "../../src/core/load-index.js";

interface Runner {
  readonly id: string;
  freeSlot: number;
}

function runner(id: string): Runner {
  return { id, freeSlot: NOT_INDEXED };
}

describe("LoadIndex", () => {
  it("picks a runner of the lowest load, the most recently added among equals", () => {
    const index = new LoadIndex<Runner>();
    const [a, b, c] = [runner("a"), runner("b"), runner("c")];
    index.add(a, 1);
    index.add(b, 0);
    index.add(c, 0);
    expect(index.leastLoaded()).toBe(c);
    index.remove(c, 0);
    expect(index.leastLoaded()).toBe(b);
    index.remove(b, 0);
    expect(index.leastLoaded()).toBe(a);
    index.remove(a, 1);
    expect(index.leastLoaded()).toBeUndefined();
    expect(index.size).toBe(0);
  });

  it("keeps the slot of the runner a removal swapped into the gap", () => {
    const index = new LoadIndex<Runner>();
    const [a, b, c] = [runner("a"), runner("b"), runner("c")];
    for (const r of [a, b, c]) index.add(r, 0);
    index.remove(a, 0); // c moves into a's place
    expect(index.has(c, 0)).toBe(true);
    index.remove(c, 0);
    expect(index.has(c, 0)).toBe(false);
    expect(index.has(b, 0)).toBe(true);
    expect(index.countAt(0)).toBe(1);
    expect(index.leastLoaded()).toBe(b);
  });

  it("ignores a remove at the wrong load or of a runner it does not hold", () => {
    const index = new LoadIndex<Runner>();
    const [a, b] = [runner("a"), runner("b")];
    index.add(a, 2);
    index.remove(a, 1);
    index.remove(b, 2);
    expect(index.has(a, 2)).toBe(true);
    expect(index.size).toBe(1);
    expect(b.freeSlot).toBe(NOT_INDEXED);
  });

  it("refuses to index a runner twice", () => {
    const index = new LoadIndex<Runner>();
    const a = runner("a");
    index.add(a, 0);
    expect(() => index.add(a, 1)).toThrow(/runner a is already indexed/);
  });

  it("answers like a plain list under any sequence of adds, removes and moves", () => {
    const op = fc.record({
      who: fc.nat({ max: 7 }),
      load: fc.nat({ max: 3 }),
      kind: fc.constantFrom("add", "remove", "move"),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const index = new LoadIndex<Runner>();
        const runners = Array.from({ length: 8 }, (_, i) => runner(`r${i}`));
        // The model: each indexed runner's load, in the order it was added.
        const model = new Map<Runner, number>();
        for (const { who, load, kind } of ops) {
          const r = runners[who] as Runner;
          const at = model.get(r);
          if (kind === "add" && at === undefined) {
            index.add(r, load);
            model.set(r, load);
          } else if (kind === "remove" && at !== undefined) {
            index.remove(r, at);
            model.delete(r);
          } else if (kind === "move" && at !== undefined) {
            index.remove(r, at);
            model.delete(r);
            index.add(r, load);
            model.set(r, load);
          }
          expect(index.size).toBe(model.size);
          for (const candidate of runners) {
            const modelLoad = model.get(candidate);
            for (let l = 0; l <= 3; l += 1) {
              expect(index.has(candidate, l)).toBe(modelLoad === l);
            }
          }
          const lowest = Math.min(...model.values());
          for (let l = 0; l <= 3; l += 1) {
            expect(index.countAt(l)).toBe([...model.values()].filter((m) => m === l).length);
          }
          const picked = index.leastLoaded();
          if (model.size === 0) expect(picked).toBeUndefined();
          else expect(model.get(picked as Runner)).toBe(lowest);
        }
      }),
    );
  });
});
