/**
 * What a runner's worker thread compiles before it can load the app's entry is on the cold
 * start's critical path (issue 23): every thread imports pool-core's /protocol entry (the
 * codec, FlameError) and the app's entry imports pool-core. Neither may drag in the link's
 * transports: node:net and node:tls are the dial's (main thread only).
 *
 * Runs plain node on the built dist/ (build first), in a fresh worker, as a runner does.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { FUNCTIONS_FIXTURE } from "../agent-process.js";

const require = createRequire(import.meta.url);

/** The builtins a fresh worker loads while importing `urls`, in load order. */
async function builtinsLoadedByWorker(urls: readonly string[]): Promise<string[]> {
  const script = `import { Worker } from "node:worker_threads";
const worker = new Worker(\`const before = new Set(process.moduleLoadList);
for (const url of ${JSON.stringify(urls).replaceAll("`", "")}) await import(url);
const { parentPort } = await import("node:worker_threads");
parentPort.postMessage(process.moduleLoadList.filter((m) => !before.has(m)));\`, { eval: true, type: "module" });
worker.once("message", (list) => { process.stdout.write(JSON.stringify(list)); process.exit(0); });`;
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--input-type=module",
    "-e",
    script,
  ]);
  return (JSON.parse(stdout) as string[])
    .filter((m) => m.startsWith("NativeModule "))
    .map((m) => m.slice("NativeModule ".length));
}

/** The file plain node loads for pool-core's `entry` (the exports map's `default`, the bundle). */
function poolCoreFile(entry: "." | "./protocol"): string {
  const manifest = require.resolve("@flame-ts/pool-core/package.json");
  const exports = JSON.parse(readFileSync(manifest, "utf8")).exports as Record<
    string,
    { default: string }
  >;
  return pathToFileURL(join(dirname(manifest), exports[entry]!.default)).href;
}

it("a runner's worker thread, with pool-core's /protocol and an app entry that imports pool-core, loads neither node:net nor node:tls", async () => {
  const loaded = await builtinsLoadedByWorker([
    poolCoreFile("./protocol"),
    poolCoreFile("."),
    pathToFileURL(FUNCTIONS_FIXTURE).href,
  ]);
  // The imports did run (pool-core needs node:crypto and node:v8): an empty list proves nothing.
  expect(loaded).toEqual(expect.arrayContaining(["crypto", "v8"]));
  expect(loaded.filter((m) => m === "net" || m === "tls")).toEqual([]);
});
