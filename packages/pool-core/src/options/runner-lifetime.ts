/**
 * When a runner leaves on its own: `idleShutdownAfter`, `minIdleShutdownAfter`, `singleUse`,
 * `failsafeTimeout`. The runner's agent enforces them; they travel in its FLAME_PARENT.
 */
import { invalidOption } from "../errors.js";
import { LIMITS } from "../wire/index.js";
import { boolean, durationOrNever, within } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

export interface IdleCheckOption {
  /** Milliseconds a runner must be idle before `check` is asked. */
  readonly afterMs: number;
  /** Called when a runner was idle for `afterMs`: true = shut it down. A throw counts as "keep". */
  readonly check: (info: { runnerId: string }) => boolean | Promise<boolean>;
}

export interface RunnerLifetimeOptions {
  /**
   * A runner above `min` that ran nothing for this many ms shuts down. Default 30,000;
   * `Infinity` = never. Or `{ afterMs, check }`: once idle `afterMs`, `check({ runnerId })`
   * decides (`true` = shut down; `false` or a throw = keep, asked again after `afterMs`).
   */
  readonly idleShutdownAfter?: number | IdleCheckOption;
  /**
   * The same for min runners, in ms. Default `Infinity` (min runners stay). A min runner that
   * leaves this way is not replaced.
   */
  readonly minIdleShutdownAfter?: number;
  /**
   * Each runner serves exactly one call, cast or child, then exits; `min` is kept by booting
   * replacements. Default false.
   */
  readonly singleUse?: boolean;
  /**
   * Milliseconds a runner may try to reach this parent before it exits on its own (FLAME's
   * Terminator), so a runner whose parent is gone never lingers. Default 20,000. A runner
   * whose established link drops exits at once.
   */
  readonly failsafeTimeout?: number;
}

export interface ResolvedRunnerLifetime {
  /** null: never. */
  readonly idleShutdownAfterMs: number | null;
  /** null: shut down once idle, without asking. */
  readonly idleCheck: IdleCheckOption["check"] | null;
  /** null: never. */
  readonly minIdleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  readonly failsafeTimeoutMs: number;
}

export function resolveRunnerLifetime(o: RunnerLifetimeOptions): ResolvedRunnerLifetime {
  return {
    ...resolveIdle(o.idleShutdownAfter ?? DEFAULTS.idleShutdownAfter),
    minIdleShutdownAfterMs: durationOrNever(
      "minIdleShutdownAfter",
      o.minIdleShutdownAfter ?? DEFAULTS.minIdleShutdownAfter,
    ),
    singleUse: boolean("singleUse", o.singleUse ?? false),
    failsafeTimeoutMs: within(
      "failsafeTimeout",
      LIMITS.failsafeTimeoutMs,
      o.failsafeTimeout ?? DEFAULTS.failsafeTimeout,
    ),
  };
}

function resolveIdle(
  idle: number | IdleCheckOption,
): Pick<ResolvedRunnerLifetime, "idleShutdownAfterMs" | "idleCheck"> {
  if (typeof idle !== "object" || idle === null) {
    return { idleShutdownAfterMs: durationOrNever("idleShutdownAfter", idle), idleCheck: null };
  }
  const idleShutdownAfterMs = durationOrNever("idleShutdownAfter.afterMs", idle.afterMs);
  if (typeof idle.check !== "function") {
    throw invalidOption("idleShutdownAfter.check", "a function returning a boolean", idle.check);
  }
  return { idleShutdownAfterMs, idleCheck: idle.check };
}
