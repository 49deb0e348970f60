/**
 * How a package bundles tsc's output (dist/*.js) into dist/bundle/ (pool-core, runner-agent):
 * one file per entry point plus shared chunks beside them, dependencies left external. Each
 * package's scripts/bundle.mjs names its entries and says why it bundles.
 * Shared chunks keep one instance of every module across a package's entry points, so classes
 * like FlameError are the same whichever entry imported them.
 */
import { rm } from "node:fs/promises";
import { build } from "esbuild";

/** `entries`: output name → tsc's output file, relative to the package (the working directory). */
export async function bundleDist(entries) {
  await rm("dist/bundle", { recursive: true, force: true });
  await build({
    entryPoints: entries,
    outdir: "dist/bundle",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    // tsc's maps are read as input maps, so traces still point into src/*.ts.
    sourcemap: true,
    logLevel: "warning",
  });
}
