export type { Backend, BootedRunner, BootRequest, RunnerExit } from "./backend.js";
export * from "./errors.js";
