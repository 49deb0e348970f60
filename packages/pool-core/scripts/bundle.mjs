/**
 * Bundles tsc's output (dist/*.js) into dist/bundle/: one file per entry point plus shared
 * chunks, dependencies left external. The exports map points at these files.
 *
 * Why: a runner loads pool-core (through the app's functions module and the agent) before
 * it can say hello. As ~50 separate ES modules that took 47–62 ms of file reads and module
 * resolution on the 2-core bench machine, a fifth of a cold start (issue 7).
 * Shared chunks keep one instance of every module across the entry points, so FlameError
 * and friends are the same class whichever entry imported them. Chunks sit next to the entry
 * files (same directory depth as dist/testing/), so `new URL("../../src/...", import.meta.url)`
 * still finds the conformance functions module.
 */
import { bundleDist } from "../../../scripts/bundle-dist.mjs";

// Output name → tsc's output. wire/ is a folder of its own (dependency-free, see its index).
const entries = {
  index: "dist/index.js",
  protocol: "dist/protocol.js",
  telemetry: "dist/telemetry.js",
  testing: "dist/testing.js",
  wire: "dist/wire/index.js",
};
await bundleDist(entries);
