/**
 * `new Pool(options)`: every option, its default and its validation, one file per group
 * (types and validator together). Each bad value fails with INVALID_OPTIONS naming the field
 * (see README.md, "Options").
 */
import { invalidOption } from "../errors.js";
import { type ClockOptions, type ResolvedClock, resolveClock } from "./clock.js";
import { type ExecutionOptions, type ResolvedExecution, resolveExecution } from "./execution.js";
import { type HeartbeatOptions, type ResolvedHeartbeat, resolveHeartbeat } from "./heartbeat.js";
import { type HookOptions, type ResolvedHooks, resolveHooks } from "./hooks.js";
import { type IdentityOptions, type ResolvedIdentity, resolveIdentity } from "./identity.js";
import { type LinkOptions, type ResolvedLink, resolveLink } from "./link.js";
import { type ListenOptions, type ResolvedListen, resolveListen } from "./listen.js";
import { type LogOptions, type ResolvedLog, resolveLog } from "./log.js";
import { type ResolvedRetry, type RetryOptions, resolveRetry } from "./retry.js";
import {
  type ResolvedRunnerLifetime,
  type RunnerLifetimeOptions,
  resolveRunnerLifetime,
} from "./runner-lifetime.js";
import {
  isInsideRunner,
  type ResolvedSizing,
  resolveSizing,
  type SizingOptions,
} from "./sizing.js";
import { type ResolvedTiming, resolveTiming, type TimingOptions } from "./timing.js";

export { type Clock, realClock } from "./clock.js";
export { DEFAULTS } from "./defaults.js";
export type { ExecutionOption } from "./execution.js";
export type { HeartbeatOption } from "./heartbeat.js";
export type { GrowMeta, GrowResult } from "./hooks.js";
export type { LinkOption } from "./link.js";
export type { ListenOption } from "./listen.js";
export type { LogFn, LogLevel } from "./log.js";
export { type RetryOption, retryPolicy } from "./retry.js";
export type { IdleCheckOption } from "./runner-lifetime.js";
export { type BudgetOption, isInsideRunner, resolveLimits } from "./sizing.js";
export { resolveDrainTimeout } from "./timing.js";

/** Everything `new Pool(options)` takes; only `name`, `backend` and `max` are required. */
export interface PoolOptions
  extends IdentityOptions,
    SizingOptions,
    TimingOptions,
    RunnerLifetimeOptions,
    LogOptions,
    ListenOptions,
    LinkOptions,
    ExecutionOptions,
    HeartbeatOptions,
    ClockOptions,
    HookOptions,
    RetryOptions {}

/** Options after defaults and validation. Infinity becomes null ("never"). */
export interface ResolvedOptions
  extends ResolvedIdentity,
    ResolvedSizing,
    ResolvedTiming,
    ResolvedRunnerLifetime,
    ResolvedLog,
    ResolvedListen,
    ResolvedLink,
    ResolvedExecution,
    ResolvedHeartbeat,
    ResolvedClock,
    ResolvedHooks,
    ResolvedRetry {}

/** `env` decides whether this process is itself a runner (see isInsideRunner): then min is 0. */
export function resolveOptions(
  options: PoolOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidOption("options", "an object", options);
  }
  const identity = resolveIdentity(options);
  return {
    ...identity,
    ...resolveSizing(options, isInsideRunner(env)),
    ...resolveRunnerLifetime(options),
    ...resolveListen(options),
    ...resolveLink(options),
    ...resolveTiming(options),
    ...resolveLog(options, identity.name),
    ...resolveExecution(options),
    ...resolveHeartbeat(options),
    ...resolveClock(options),
    ...resolveHooks(options),
    ...resolveRetry(options),
  };
}
