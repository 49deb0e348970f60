/**
 * The CPU-bound bench's split of CPU by thread role must put each thread's run time where it
 * belongs: a computing worker thread under "workers", this thread under "the caller's main",
 * and nothing under a peer when there is none. No timing is asserted: run time is what a
 * thread ran, however loaded the machine, and each side's work is several times the other's.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { work } from "../fixtures/work.mjs";
import { cpuByRoleSince, threadRunTimes } from "../src/cpu-per-call.js";

describe("CPU by thread role", () => {
  it("counts a computing worker thread as a worker, this thread as the caller's main", async () => {
    const before = threadRunTimes(null);
    // It stays until terminated: a thread that ended has left /proc, and its run time with it.
    const worker = new Worker(
      `const { parentPort } = require("node:worker_threads");
       let x = 0; for (let i = 0; i < 40_000_000; i++) x = (x + Math.sqrt(i + x)) % 1e9;
       parentPort.postMessage(x);
       parentPort.on("message", () => {});`,
      { eval: true },
    );
    const answered = once(worker, "message");
    work(5_000_000);
    await answered;
    const used = cpuByRoleSince(before, 1);
    await worker.terminate();

    expect(used.peerMain).toBe(0);
    expect(used.workers).toBeGreaterThan(2 * used.callerMain);
    expect(used.callerMain).toBeGreaterThan(used.other);
  });

  it("counts the peer's main thread apart from the caller's", async () => {
    const peer = spawn(
      process.execPath,
      [
        "-e",
        // Computes on "go", and stays until its stdin ends: its threads can be read meanwhile.
        `process.stdin.once("data", () => {
           let x = 0; for (let i = 0; i < 40_000_000; i++) x = (x + Math.sqrt(i + x)) % 1e9;
           process.stdout.write(String(x));
         });`,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    const peerPid = peer.pid as number;
    const before = threadRunTimes(peerPid);
    const finished = once(peer.stdout, "data");
    peer.stdin.write("go\n");
    await finished;
    const used = cpuByRoleSince(before, 0);
    const exited = once(peer, "exit");
    peer.stdin.end();
    await exited;

    expect(used.peerMain).toBeGreaterThan(2 * used.callerMain);
    expect(used.workers).toBe(0);
  });
});
