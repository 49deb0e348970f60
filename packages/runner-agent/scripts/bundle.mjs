/**
 * Bundles tsc's output (dist/*.js) into dist/bundle/: the bin, the package entry and the worker
 * thread's module, plus shared chunks, dependencies (pool-core, ws) left external. The bin and
 * the exports map point at these files; tsc's dist/*.js stay and still run (tests import them).
 *
 * Why (issue 23, cold start): a runner resolves, reads and compiles every module before its
 * first call. As ~25 separate ES modules, each bare `@flame-ts/pool-core/...` import resolved
 * again per importing file; bundled, the modules a worker thread loads before the app's entry
 * took 26–31 ms instead of 37–43 ms (3 alternating pairs in one worker each, loaded 2-core
 * VM), and the main thread loads its ~20 modules the same way.
 * Chunks sit beside the entries, so `new URL("./worker.js", import.meta.url)` in the chunk
 * that starts threads finds the bundled worker, as it finds dist/executor/worker.js from tsc's
 * dist/executor/thread.js.
 */
import { bundleDist } from "../../../scripts/bundle-dist.mjs";

const entries = {
  bin: "dist/bin.js",
  index: "dist/index.js",
  worker: "dist/executor/worker.js",
};
await bundleDist(entries);
