export {
  FlyApiError,
  FlyMachinesClient,
  type FlyMachinesClientOptions,
  type RequestOptions,
} from "./client.js";
export { FlyBackend, isCapacityError, machineName } from "./fly-backend.js";
export { DEFAULT_FLY_LISTEN_PORT, type FlyListenOptions, flyListenOptions } from "./listen.js";
export * from "./machines-api.js";
export type {
  FlyBackendOptions,
  FlyGuestOptions,
  FlyWarmOptions,
  ResolvedFlyOptions,
} from "./options.js";
export type { ParentRef, ReapOptions, ReapResult } from "./reaper.js";
export type { BootKind, WarmOutcome } from "./runner.js";
