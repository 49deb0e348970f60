// The functions every backend's conformance run loads on its runners. Plain .mjs so Docker
// and Fly images can ship it as-is: `flame-runner --entry <this file>`.
import { defineFunction } from "@flame-ts/pool-core";

export const echo = defineFunction("conformance.echo", (input) => input);

export const runnerInfo = defineFunction("conformance.runnerInfo", (_input, ctx) => ({
  runnerId: ctx.runnerId,
  pid: process.pid,
}));

/** Runs until its signal aborts (the pool stops, the call is cancelled or the runner dies). */
export const hold = defineFunction(
  "conformance.hold",
  (_input, ctx) =>
    new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("released"))),
);
