/**
 * The runner a backend starts is the bundle (scripts/bundle.mjs, issue 23's cold start): the
 * package's bin, its entry and the worker thread's module are a few files in dist/bundle/, not
 * ~25 modules that each resolve pool-core again. The bin must still start the first thread
 * before it loads the link (ws): the dial's modules stay behind its dynamic import.
 *
 * Reads the built dist/ (build first).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  exports: Record<string, { default: string } | string>;
};

/** The specifiers a module imports statically (`import … from "x"`, `import "x"`). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^import\s+(?:[^"';]*?\s+from\s+)?"([^"]+)";?$/gms)].map((m) => m[1]!);
}

/** Every file reached from `file` through static relative imports, and the bare ones it meets. */
function staticGraph(file: string): { files: string[]; bare: string[] } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const visit = (path: string): void => {
    if (files.has(path)) return;
    files.add(path);
    for (const spec of staticImports(path)) {
      if (spec.startsWith(".")) visit(resolve(dirname(path), spec));
      else bare.add(spec);
    }
  };
  visit(file);
  return { files: [...files], bare: [...bare] };
}

it("the flame-runner bin, the package entry and ./bin are the bundle in dist/bundle/", () => {
  const entryOf = (key: string): string => {
    const target = manifest.exports[key];
    return typeof target === "string" ? target : target!.default;
  };
  expect({
    bin: manifest.bin["flame-runner"],
    main: entryOf("."),
    binExport: entryOf("./bin"),
  }).toEqual({
    bin: "dist/bundle/bin.js",
    main: "./dist/bundle/index.js",
    binExport: "./dist/bundle/bin.js",
  });
  // Threads start from `./worker.js` beside the chunk that creates them.
  expect(existsSync(join(root, "dist/bundle/worker.js"))).toBe(true);
});

it("the bundled bin loads only bundle files before the first thread starts, and not ws", () => {
  const bin = join(root, manifest.bin["flame-runner"]!);
  const { files, bare } = staticGraph(bin);
  const bundleDir = join(root, "dist/bundle");
  expect(files.filter((f) => dirname(f) !== bundleDir)).toEqual([]);
  expect(bare).not.toContain("ws");
  // The agent (and with it ws) is a chunk of its own, imported once the thread started.
  expect(readFileSync(bin, "utf8")).toMatch(/await import\("\.\/agent-[A-Z0-9]+\.js"\)/);
});

it("the bundled worker thread loads only bundle files and pool-core's /protocol and /wire", () => {
  const { files, bare } = staticGraph(join(root, "dist/bundle/worker.js"));
  expect(files.filter((f) => dirname(f) !== join(root, "dist/bundle"))).toEqual([]);
  expect(bare.filter((b) => b.startsWith("@flame-ts/") || !b.startsWith("node:")).sort()).toEqual([
    "@flame-ts/pool-core/protocol",
    "@flame-ts/pool-core/wire",
  ]);
});
