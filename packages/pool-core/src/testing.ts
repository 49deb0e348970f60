/**
 * `@flame-ts/pool-core/testing`: the backend conformance suite every backend runs
 * (Local, Docker, the Fly emulator). Needs vitest (a peer dependency).
 */
export {
  type ConformanceOptions,
  conformanceEntry,
  describeBackendConformance,
} from "./testing/conformance.js";
