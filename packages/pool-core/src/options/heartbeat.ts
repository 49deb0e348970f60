/** Link liveness between the pool and its runners: the `heartbeat` option. */
import { invalidOption } from "../errors.js";
import { heartbeatTimeoutFits, LIMITS } from "../wire/index.js";
import { group, within } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

/**
 * Link liveness between the pool and its runners, the same on both ends. The defaults keep
 * runners through a 5 s stall of either event loop; a killed runner is seen at once anyway
 * (its socket closes); a frozen runner or silent network within timeoutMs + intervalMs.
 */
export interface HeartbeatOption {
  /** Ping period in ms. Default 1,000. */
  readonly intervalMs?: number;
  /** A link silent this long (ms) is dropped and its calls fail RUNNER_DOWN. Default 10,000; more than intervalMs. */
  readonly timeoutMs?: number;
}

export interface HeartbeatOptions {
  /** Link liveness thresholds; see HeartbeatOption. Default `{ intervalMs: 1_000, timeoutMs: 10_000 }`. */
  readonly heartbeat?: HeartbeatOption;
}

export interface ResolvedHeartbeat {
  readonly heartbeat: { readonly intervalMs: number; readonly timeoutMs: number };
}

export function resolveHeartbeat(o: HeartbeatOptions): ResolvedHeartbeat {
  const h = group("heartbeat", o.heartbeat, "{ intervalMs?, timeoutMs? }");
  const intervalMs = within(
    "heartbeat.intervalMs",
    LIMITS.heartbeatIntervalMs,
    h.intervalMs ?? DEFAULTS.heartbeatIntervalMs,
  );
  const timeoutMs = within(
    "heartbeat.timeoutMs",
    LIMITS.heartbeatTimeoutMs,
    h.timeoutMs ?? DEFAULTS.heartbeatTimeoutMs,
  );
  if (!heartbeatTimeoutFits(intervalMs, timeoutMs)) {
    throw invalidOption(
      "heartbeat.timeoutMs",
      `more than heartbeat.intervalMs (${intervalMs})`,
      timeoutMs,
    );
  }
  return { heartbeat: { intervalMs, timeoutMs } };
}
