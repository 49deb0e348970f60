#!/usr/bin/env node
/**
 * Is every published package ready to publish? For each one (the workspace packages that are
 * not private):
 *   - publint --strict (package.json fields, exports targets, files);
 *   - @arethetypeswrong/cli --pack with the esm-only profile (types resolve for node16 ESM and
 *     bundlers; these packages are ESM-only on purpose);
 *   - `npm publish --dry-run`: no warning (other than not being logged in), and the tarball
 *     holds what the READMEs tell users to use (runner-agent's Dockerfile, its .dockerignore);
 *   - dependencies on sibling packages are caret ranges on the sibling's version (`^0.1.0`);
 *   - `engines.node` says the supported Node versions (the root package.json's range).
 * Any failure exits 1 after every check ran, naming the package and the check.
 *
 *   node scripts/check-packages.mjs        (npm run check:packages; needs `npm run build`)
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(repo, "node_modules/.bin", name);

/** Files each package must ship beyond its exports (which publint checks). */
const MUST_SHIP = {
  "@flame-ts/runner-agent": ["README.md", "Dockerfile", "Dockerfile.dockerignore", "dist/bin.js"],
};

const manifests = readdirSync(join(repo, "packages"))
  .map((dir) => ({ dir: join(repo, "packages", dir) }))
  .map(({ dir }) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true);
const rootEngines = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).engines?.node;
const versions = new Map(manifests.map(({ pkg }) => [pkg.name, pkg.version]));

const failures = [];
for (const { dir, pkg } of manifests) {
  const check = (what, fn) => {
    try {
      fn();
      console.log(`ok   ${pkg.name}: ${what}`);
    } catch (error) {
      const output = [error.stdout, error.stderr].filter(Boolean).join("\n").trim();
      failures.push(`${pkg.name}: ${what}: ${error.message}${output ? `\n${output}` : ""}`);
      console.log(`FAIL ${pkg.name}: ${what}`);
    }
  };
  const run = (file, args) =>
    execFileSync(file, args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  check("sibling ranges", () => {
    for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
      const version = versions.get(name);
      if (version !== undefined && range !== `^${version}`) {
        throw new Error(`depends on ${name}@${range}; publish with "^${version}"`);
      }
    }
  });
  check("engines.node", () => {
    if (pkg.engines?.node !== rootEngines) {
      throw new Error(`engines.node is ${pkg.engines?.node}; the repo supports "${rootEngines}"`);
    }
  });
  check("publint --strict", () => run(bin("publint"), ["--strict", "."]));
  check("attw --pack --profile esm-only", () =>
    run(bin("attw"), ["--pack", ".", "--profile", "esm-only", "--format", "table-flipped"]),
  );
  check("npm publish --dry-run", () => {
    const result = spawnSync("npm", ["publish", "--dry-run", "--json"], {
      cwd: dir,
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(`exit ${result.status}: ${result.stderr}`);
    // Not being logged in is this machine's business, not the package's.
    const warnings = result.stderr
      .split("\n")
      .filter((line) => line.startsWith("npm warn") && !/requires you to be logged in/.test(line));
    if (warnings.length > 0) throw new Error(warnings.join("\n"));
    // npm 11 keys the report by package name; older npms print the report itself.
    const parsed = JSON.parse(result.stdout.slice(result.stdout.indexOf("{")));
    const report = parsed[pkg.name] ?? parsed;
    const shipped = new Set((report.files ?? []).map((f) => f.path));
    const missing = (MUST_SHIP[pkg.name] ?? ["README.md"]).filter((f) => !shipped.has(f));
    if (missing.length > 0) throw new Error(`tarball lacks ${missing.join(", ")} (add to "files")`);
  });
}

if (failures.length > 0) {
  console.error(`\ncheck-packages: ${failures.length} failure(s):\n\n${failures.join("\n\n")}`);
  process.exit(1);
}
console.log(`check-packages: ${manifests.length} packages ready to publish`);
