/**
 * A runner's checkout list (checkout-list.ts) on its own: grant order kept, delete from any
 * place, a checkout in no list (or another runner's) left alone. The model test checks it
 * against an array after every operation.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CheckoutList, type OnRunner } from "../../src/core/checkout-list.js";

interface Checkout extends OnRunner<Checkout> {}

function checkout(id: string): Checkout {
  return { id, prevOnRunner: null, nextOnRunner: null, onRunner: null };
}

const ids = (list: CheckoutList<Checkout>): string[] => [...list].map((c) => c.id);

describe("CheckoutList", () => {
  it("keeps grant order and deletes from the head, the middle and the tail", () => {
    const list = new CheckoutList<Checkout>();
    const [a, b, c, d] = [checkout("a"), checkout("b"), checkout("c"), checkout("d")];
    for (const x of [a, b, c, d]) list.add(x);
    expect(ids(list)).toEqual(["a", "b", "c", "d"]);
    list.delete(b);
    expect(ids(list)).toEqual(["a", "c", "d"]);
    list.delete(a);
    list.delete(d);
    expect(ids(list)).toEqual(["c"]);
    expect(list.size).toBe(1);
    list.add(a);
    expect(ids(list)).toEqual(["c", "a"]);
  });

  it("ignores a delete of a checkout it does not hold, and refuses one listed twice", () => {
    const mine = new CheckoutList<Checkout>();
    const other = new CheckoutList<Checkout>();
    const [a, b] = [checkout("a"), checkout("b")];
    mine.add(a);
    other.add(b);
    mine.delete(b);
    expect(ids(other)).toEqual(["b"]);
    expect(mine.size).toBe(1);
    expect(() => other.add(a)).toThrow(/checkout a is already listed/);
  });

  it("clear unlinks every checkout, so each can be listed again", () => {
    const list = new CheckoutList<Checkout>();
    const [a, b] = [checkout("a"), checkout("b")];
    list.add(a);
    list.add(b);
    list.clear();
    expect(list.size).toBe(0);
    expect(ids(list)).toEqual([]);
    expect(a.onRunner).toBeNull();
    list.add(b);
    expect(ids(list)).toEqual(["b"]);
  });

  it("matches an array under any adds and deletes", () => {
    const op = fc.record({ who: fc.nat({ max: 5 }), add: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const list = new CheckoutList<Checkout>();
        const all = Array.from({ length: 6 }, (_, i) => checkout(`c${i}`));
        let model: Checkout[] = [];
        for (const { who, add } of ops) {
          const c = all[who] as Checkout;
          if (add && !model.includes(c)) {
            list.add(c);
            model.push(c);
          } else if (!add) {
            list.delete(c);
            model = model.filter((m) => m !== c);
          }
          expect([...list]).toEqual(model);
          expect(list.size).toBe(model.length);
        }
      }),
    );
  });
});
