/**
 * The pure pool core: FLAME.Pool's policy as a reducer.
 *
 * Nothing in this folder does I/O, reads a clock, draws randomness or arms a timer (a biome
 * rule enforces it). Time comes in as `nowMs` (the host's monotonic clock); ids come in events
 * or from counters in state; every deadline is stored in state and reported by `nextDeadline`.
 *
 * Files: types.ts (events, effects, config), state.ts (state and the runner lifecycle table),
 * reducer.ts (event handlers, and which deadline acts when), policy.ts (the rules, each in one
 * place: grant, the call backstop, demand boots and the retry, min, buffer, budget, idle),
 * runners.ts (runner and boot moves: drain, shutdown, an announced exit, kill, gone),
 * limits.ts (resize and stop), tracked.ts (holders of tracked resources and the calls pinned
 * to them: `convertToTracked`, `checkout` with `on`), timers.ts (every deadline as data: armed, found due, the
 * earliest reported), step.ts (one step's effects), budget.ts (runner time per window),
 * invariants.ts (what must hold after every step).
 *
 * The host drives it like this:
 * 1. `initialState(config)`, then `step(state, { type: "start" }, now)` (or the first
 *    `checkout` starts it).
 * 2. For every event (a caller's checkout, a boot result, a runner gone or leaving, …) call
 *    `step` ONCE
 *    and carry out the returned effects in order: `grant`/`reject`/`failCheckout` settle a
 *    caller (a grant carries the run deadline; a `failCheckout` marked `answeredEarly` keeps
 *    the slot until the host checks it in), `boot` asks the backend for a runner (the
 *    core minted its id and owns its deadline), `abortBoot` gives a boot up, `shutdownRunner`
 *    asks a runner to leave, `killRunner` ends one through its backend (`forgetRunner`: its exit
 *    never came, drop it), `checkIdle` runs the user's idle check, `stopped` says nothing is
 *    left, `telemetry` is published.
 *    A runner's link closing is `runnerDown`, told to the core before any of its calls is
 *    failed: the core fails them (`failCheckout`) and never grants that runner again.
 *    A call answered with tracked values is `convertToTracked` (it keeps its slot until its
 *    `checkin`, sent once every handle is released); a call pinned to it is a `checkout` with
 *    `on`, settled by the same `grant`/`reject`/`failCheckout` and ended by `checkin` or
 *    `callerGone` under its own id (never `retry`, never `answered`: pinned calls are not
 *    retried).
 * 3. Results of effects (bootSucceeded, runnerDown, checkin, …) come back as new events,
 *    queued and processed one at a time: never call `step` from inside effect handling.
 *    After `abortBoot`, report nothing more about that boot (stop what it started).
 * 4. After each step, re-arm the one real timer at `nextDeadline(state)` and send `tick`
 *    when it fires. Early or extra ticks are harmless.
 */
export { checkInvariants } from "./invariants.js";
export { nextDeadline, step } from "./reducer.js";
export { snapshot } from "./snapshot.js";
export {
  CoreTransitionError,
  initialState,
  type PoolState,
  RUNNER_TRANSITIONS,
} from "./state.js";
export * from "./types.js";
