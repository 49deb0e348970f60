/**
 * `link` options: resolved values and the INVALID_OPTIONS each bad value raises.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/backend.js";
import { resolveOptions } from "../../src/options/index.js";

const backend: Backend = {
  name: "unused",
  boot: () => Promise.reject(new Error("options tests boot nothing")),
};

function resolveLink(link: unknown) {
  return resolveOptions({ name: "t", max: 1, backend, link } as never, {}).link;
}

describe("link.deadlineGrace", () => {
  it("defaults to 1,000 ms", () => {
    expect(resolveLink(undefined).deadlineGraceMs).toBe(1_000);
    expect(resolveLink({}).deadlineGraceMs).toBe(1_000);
  });

  it("takes any finite number of ms ≥ 0, 0 included", () => {
    expect(resolveLink({ deadlineGrace: 0 }).deadlineGraceMs).toBe(0);
    expect(resolveLink({ deadlineGrace: 2_500 }).deadlineGraceMs).toBe(2_500);
  });

  it.each([
    ["negative", -1],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["NaN", Number.NaN],
    ["a string", "1000"],
  ])("rejects %s with INVALID_OPTIONS naming link.deadlineGrace", (_label, bad) => {
    expect(() => resolveLink({ deadlineGrace: bad })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field: "link.deadlineGrace" }),
    );
  });

  it("leaves the other link options at their defaults", () => {
    expect(resolveLink({ deadlineGrace: 5 })).toEqual({
      sendHighWaterBytes: 32 * 1024 * 1024,
      maxQueuedSends: 1_000,
      deadlineGraceMs: 5,
      answerBudgetBytes: 64 * 1024 * 1024,
    });
  });
});

describe("link.answerBudgetBytes", () => {
  const resolve = (link: unknown, maxFrameBytes?: number) =>
    resolveOptions({ name: "t", max: 1, backend, link, maxFrameBytes } as never, {}).link;

  it("defaults to 64 MiB, or maxFrameBytes when that is larger", () => {
    expect(resolve(undefined).answerBudgetBytes).toBe(64 * 1024 * 1024);
    expect(resolve({}, 100 * 1024 * 1024).answerBudgetBytes).toBe(100 * 1024 * 1024);
    expect(resolve({ answerBudgetBytes: 16 * 1024 * 1024 }).answerBudgetBytes).toBe(
      16 * 1024 * 1024,
    );
  });

  it.each([
    ["below maxFrameBytes", 1024 * 1024],
    ["a fraction", 64 * 1024 * 1024 + 0.5],
    ["a string", "64MiB"],
  ])("rejects %s with INVALID_OPTIONS naming link.answerBudgetBytes", (_label, bad) => {
    expect(() => resolve({ answerBudgetBytes: bad })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", field: "link.answerBudgetBytes" }),
    );
  });
});
