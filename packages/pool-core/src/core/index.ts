/**
 * The pure pool core: FLAME.Pool's policy as a reducer.
 *
 * Nothing in this folder does I/O, reads a clock, draws randomness or arms a timer (a biome
 * rule enforces it). Time comes in as `nowMs`; ids come in events or from counters in state;
 * timers are deadlines stored in state and reported by `nextDeadline`.
 *
 * The host drives it like this:
 * 1. `initialState(config)`, then `step(state, { type: "start" }, now)`.
 * 2. For every event (a caller's checkout, a boot result, a runner gone, …) call `step` ONCE
 *    and carry out the returned effects in order: `grant`/`reject`/`failCheckout` settle a
 *    caller, `boot` asks the backend for a runner, `shutdownRunner` drains one, `checkIdle`
 *    runs the user's idle check, `telemetry` is published.
 * 3. Results of effects (bootSucceeded, runnerDown, checkin, …) come back as new events,
 *    queued and processed one at a time: never call `step` from inside effect handling.
 * 4. After each step, re-arm the one real timer at `nextDeadline(state)` and send `tick`
 *    when it fires. Early or extra ticks are harmless.
 */
export { checkInvariants } from "./invariants.js";
export { nextDeadline, step } from "./reducer.js";
export { snapshot } from "./snapshot.js";
export { initialState, type PoolState, RUNNER_TRANSITIONS } from "./state.js";
export * from "./types.js";
