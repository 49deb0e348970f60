/**
 * The idle deadline queue (idle-queue.ts) on its own: earliest first, ties in arming order,
 * a deadline armed out of order put in its place, and a disarm from anywhere in the list.
 * The model test checks it against a sorted array after every operation.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type IdleNode, IdleQueue } from "../../src/core/idle-queue.js";

interface Node extends IdleNode<Node> {}

function node(id: string): Node {
  return { id, idleDeadlineMs: null, idlePrev: null, idleNext: null, idleQueue: null };
}

/** Empties the queue through `first` + `disarm`, as the core does when deadlines pass. */
function drainOrder(queue: IdleQueue<Node>): string[] {
  const order: string[] = [];
  for (let n = queue.first(); n !== undefined; n = queue.first()) {
    order.push(`${n.id}@${n.idleDeadlineMs}`);
    queue.disarm(n);
  }
  return order;
}

describe("IdleQueue", () => {
  it("gives the earliest deadline first, equal ones in the order they were armed", () => {
    const queue = new IdleQueue<Node>();
    const [a, b, c] = [node("a"), node("b"), node("c")];
    queue.arm(a, 10);
    queue.arm(b, 20);
    queue.arm(c, 10);
    expect(queue.size).toBe(3);
    expect(drainOrder(queue)).toEqual(["a@10", "c@10", "b@20"]);
    expect(queue.size).toBe(0);
  });

  it("re-arming moves a node to its new place; disarming clears its deadline", () => {
    const queue = new IdleQueue<Node>();
    const [a, b, c] = [node("a"), node("b"), node("c")];
    queue.arm(a, 1);
    queue.arm(b, 2);
    queue.arm(c, 3);
    queue.arm(a, 4);
    queue.disarm(b);
    expect(b.idleDeadlineMs).toBeNull();
    expect(b.idleQueue).toBeNull();
    expect(drainOrder(queue)).toEqual(["c@3", "a@4"]);
  });

  it("moves a node armed in another queue, and ignores a disarm by a queue that does not hold it", () => {
    const plain = new IdleQueue<Node>();
    const min = new IdleQueue<Node>();
    const a = node("a");
    plain.arm(a, 5);
    min.disarm(a);
    expect(plain.size).toBe(1);
    min.arm(a, 7);
    expect(plain.size).toBe(0);
    expect(plain.first()).toBeUndefined();
    expect(drainOrder(min)).toEqual(["a@7"]);
  });

  it("orders like a stable sort under any arms and disarms, in order or not", () => {
    const op = fc.record({
      who: fc.nat({ max: 5 }),
      atMs: fc.nat({ max: 8 }),
      disarm: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const queue = new IdleQueue<Node>();
        const nodes = Array.from({ length: 6 }, (_, i) => node(`n${i}`));
        // The model: armed nodes with their deadline and arming sequence number.
        const model = new Map<Node, { atMs: number; seq: number }>();
        let seq = 0;
        for (const { who, atMs, disarm } of ops) {
          const n = nodes[who] as Node;
          if (disarm) {
            queue.disarm(n);
            model.delete(n);
          } else {
            queue.arm(n, atMs);
            model.set(n, { atMs, seq: seq++ });
          }
          expect(queue.size).toBe(model.size);
          const first = [...model].sort((x, y) => x[1].atMs - y[1].atMs || x[1].seq - y[1].seq)[0];
          expect(queue.first()).toBe(first?.[0]);
        }
        const expected = [...model]
          .sort((x, y) => x[1].atMs - y[1].atMs || x[1].seq - y[1].seq)
          .map(([n, { atMs }]) => `${n.id}@${atMs}`);
        expect(drainOrder(queue)).toEqual(expected);
      }),
    );
  });
});
