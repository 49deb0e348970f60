import { describe, expect, it, vi } from "vitest";
import { untilAborted } from "../../src/index.js";

/** A promise settled by hand, so each test decides what happens before or after the abort. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("untilAborted", () => {
  it("settles as the work does when the signal never aborts, and never calls onLate", async () => {
    const onLate = vi.fn();
    const work = deferred<string>();
    const waiting = untilAborted(work.promise, new AbortController().signal, onLate);
    work.resolve("made");
    await expect(waiting).resolves.toBe("made");

    const failing = deferred<string>();
    const failed = untilAborted(failing.promise, new AbortController().signal, onLate);
    failing.reject(new Error("refused"));
    await expect(failed).rejects.toThrow("refused");
    expect(onLate).not.toHaveBeenCalled();
  });

  it("rejects with the signal's reason at the abort, and hands what the work makes later to onLate", async () => {
    const controller = new AbortController();
    const work = deferred<string>();
    const cleaned: string[] = [];
    const waiting = untilAborted(work.promise, controller.signal, (value) => {
      cleaned.push(value);
    });
    controller.abort(new Error("pool stopping"));
    await expect(waiting).rejects.toThrow("pool stopping");
    work.resolve("container-1");
    await vi.waitFor(() => expect(cleaned).toEqual(["container-1"]));
  });

  it("with the signal already aborted: rejects at once, still cleans up, and leaves no unhandled rejection", async () => {
    const unhandled = vi.fn();
    process.on("unhandledRejection", unhandled);
    try {
      const signal = AbortSignal.abort(new Error("gone"));
      const made = deferred<string>();
      const cleaned: string[] = [];
      await expect(
        untilAborted(made.promise, signal, (value) => {
          cleaned.push(value);
        }),
      ).rejects.toThrow("gone");
      made.resolve("machine-1");
      await vi.waitFor(() => expect(cleaned).toEqual(["machine-1"]));

      const failing = deferred<string>();
      await expect(untilAborted(failing.promise, signal)).rejects.toThrow("gone");
      failing.reject(new Error("late failure nobody awaits"));
      // A failing cleanup is nobody's to handle either.
      const late = deferred<string>();
      await expect(
        untilAborted(late.promise, signal, () => Promise.reject(new Error("cleanup failed"))),
      ).rejects.toThrow("gone");
      late.resolve("x");
      // Unhandled rejections are reported after a macrotask turn.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off("unhandledRejection", unhandled);
    }
  });
});
