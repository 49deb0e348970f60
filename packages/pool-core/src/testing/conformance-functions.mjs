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

/**
 * Tracked resources: two live values kept on the runner by one call (so in one thread), each
 * counting its uses; their dispose is logged where a call pinned to either can read it.
 */
const disposed = [];

export const openPair = defineFunction("conformance.openPair", (input, ctx) => {
  const open = (name) => ctx.track({ name, uses: 0 }, (value) => void disposed.push(value.name));
  return { a: open(`${input.name}.a`), b: open(`${input.name}.b`) };
});

/** One live value, the whole result: the caller receives the handle itself. */
export const openOne = defineFunction("conformance.openOne", (input, ctx) =>
  ctx.track({ name: input.name, uses: 0 }, (value) => void disposed.push(value.name)),
);

/** Pinned: one more use of the live value (the same object every time, not a copy). */
export const use = defineFunction("conformance.use", (_input, ctx) => {
  const value = ctx.resource;
  value.uses += 1;
  return { name: value.name, uses: value.uses, runnerId: ctx.runnerId };
});

/** Pinned: the names of the values disposed so far in the thread that holds `handle`. */
export const disposedNames = defineFunction("conformance.disposedNames", (input, ctx) => {
  ctx.get(input.handle); // RESOURCE_GONE unless this thread holds it
  return [...disposed];
});
