export * from "./telemetry/events.js";
