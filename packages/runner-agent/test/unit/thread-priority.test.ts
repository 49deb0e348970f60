import { describe, expect, it } from "vitest";
import { WORKER_NICE_OFFSET, workerNice } from "../../src/executor/thread-priority.js";

describe("a worker thread's nice value", () => {
  it("is its inherited one plus the offset on Linux, never past the lowest priority (19)", () => {
    expect(WORKER_NICE_OFFSET).toBe(5);
    expect(workerNice("linux", 0)).toBe(5);
    expect(workerNice("linux", -5)).toBe(0);
    expect(workerNice("linux", 12)).toBe(17);
    expect(workerNice("linux", 17)).toBe(19);
    expect(workerNice("linux", 19)).toBe(19);
  });

  it("is left alone where a nice value belongs to the whole process (macOS, Windows)", () => {
    expect(workerNice("darwin", 0)).toBeNull();
    expect(workerNice("win32", 0)).toBeNull();
  });
});
