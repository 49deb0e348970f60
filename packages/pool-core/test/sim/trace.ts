/** Trace lines for a run (events and the effects they caused) and the failure report. */
import type { CoreEvent, Effect } from "../../src/core/index.js";
import type { SimResult } from "./model.js";

export function describeEvent(event: CoreEvent): string {
  const { type, ...rest } = event;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${String(v)}`);
  return [type, ...fields].join(" ");
}

export function describeEffects(effects: readonly Effect[]): string {
  const parts = effects.map(describeEffect).filter((part) => part !== null);
  return parts.length === 0 ? "-" : parts.join(", ");
}

/** One effect as a trace fragment; telemetry is left out of traces (null). */
function describeEffect(e: Effect): string | null {
  switch (e.type) {
    case "grant":
      return `grant ${e.checkoutId}@${e.runnerId} until ${e.runDeadlineMs}`;
    case "reject":
      return `reject ${e.checkoutId} ${e.error.code}`;
    case "failCheckout":
      return `fail ${e.checkoutId} ${e.error.code}${e.answeredEarly ? " (slot held)" : ""}`;
    case "boot":
      return `boot ${e.bootId}=${e.runnerId}${e.isMin ? " min" : ""}`;
    case "abortBoot":
      return `abortBoot ${e.bootId}`;
    case "killRunner":
      return `kill ${e.runnerId}`;
    case "forgetRunner":
      return `forget ${e.runnerId}`;
    case "stopped":
      return "stopped";
    case "shutdownRunner":
      return `shutdown ${e.runnerId} ${e.reason}`;
    case "checkIdle":
      return `checkIdle ${e.runnerId}`;
    case "retryCheckout":
      return `retry ${e.checkoutId} #${e.attempt} at ${e.retryAtMs}`;
    case "unqueue":
      return `unqueue ${e.checkoutId}@${e.runnerId}`;
    case "telemetry":
      return null;
  }
}

/** A failure report: the seed and step to replay, the error, and the end of the trace. */
export function formatFailure(result: SimResult, traceLines = 60): string {
  const tail = result.trace.slice(-traceLines);
  return [
    `SEED=${result.seed} STEP=${result.failedAtStep}: ${result.error}`,
    `replay: npm run sim -- --seed ${result.seed}`,
    ...(tail.length > 0 ? ["trace (last steps):", ...tail] : []),
  ].join("\n");
}
