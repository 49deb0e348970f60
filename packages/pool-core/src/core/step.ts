import type { PoolState } from "./state.js";
import type { CoreTelemetryEvent, Effect } from "./types.js";

/** One step's scratch: the state, the time it happens at, and the effects it produces. */
export interface Step {
  readonly s: PoolState;
  readonly nowMs: number;
  readonly fx: Effect[];
  /** Runner time spent in the budget window, read once per step (null = not read yet). */
  spentMs: number | null;
  /** A boot was needed this step and the budget refused it. */
  budgetRefused: boolean;
}

export function emit(st: Step, effect: Effect): void {
  st.fx.push(effect);
}

export function telemetry(st: Step, event: CoreTelemetryEvent): void {
  st.fx.push({ type: "telemetry", event });
}
