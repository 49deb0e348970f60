/**
 * Proves the import rules in biome.json fire: backends, the agent and the apps reach pool-core
 * only through its public entry points (never `src/`, `dist/` or a relative path into another
 * package), and wire/ imports nothing outside itself. Linted as real files in a scratch copy
 * of the repo's lint config, at the same relative paths (why not stdin: see
 * test/lint/pure-core-rule.test.ts).
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../../../..");
const biome = join(repoRoot, "node_modules/.bin/biome");

const FORBIDDEN = [
  'import { a } from "@flame-ts/pool-core/src/protocol/frame.js";',
  'import { b } from "@flame-ts/pool-core/dist/link/index.js";',
  'import { c } from "../../pool-core/src/errors.js";',
  'import { d } from "../../../packages/backend-docker/src/index.js";',
];
const ALLOWED = [
  'import { e } from "@flame-ts/pool-core";',
  'import { f } from "@flame-ts/pool-core/protocol";',
  'import { g } from "@flame-ts/pool-core/telemetry";',
  'import { h } from "@flame-ts/pool-core/testing";',
  'import { i } from "@flame-ts/pool-core/wire";',
  'import { j } from "./local.js";',
  'import { k } from "../../lib/server/session";',
  'import { l } from "node:fs";',
];
const probe = (lines: readonly string[]) =>
  `${lines.join("\n")}\nexport const all = [${lines.map((l) => /\{ (\w) \}/.exec(l)?.[1]).join(", ")}];\n`;

const CONSUMERS = [
  "packages/runner-agent/src/probe.ts",
  "packages/backend-docker/src/probe.ts",
  "apps/dashboard/lib/probe.ts",
];
const WIRE_PROBE = "packages/pool-core/src/wire/probe.ts";

let scratch = "";

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "flame-imports-"));
  const config = JSON.parse(readFileSync(join(repoRoot, "biome.json"), "utf8")) as Record<
    string,
    unknown
  >;
  delete config.$schema; // points into node_modules, which the scratch copy does not have
  writeFileSync(join(scratch, "biome.json"), JSON.stringify(config, null, 2));
  cpSync(join(repoRoot, "tools/lint"), join(scratch, "tools/lint"), { recursive: true });
  const files: Record<string, string> = {
    ...Object.fromEntries(CONSUMERS.map((path) => [path, probe(FORBIDDEN)])),
    ...Object.fromEntries(
      CONSUMERS.map((path) => [path.replace("probe", "clean"), probe(ALLOWED)]),
    ),
    [WIRE_PROBE]: probe([
      'import { m } from "../errors.js";',
      'import { n } from "node:buffer";',
      'import { o } from "./limits.js";',
    ]),
    // The same imports are fine in pool-core's own src: the rule is about other packages.
    "packages/pool-core/src/host/probe.ts": probe(['import { p } from "../errors.js";']),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  }
});

afterAll(() => {
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
});

/** Line numbers biome flags with noRestrictedImports in `path`. */
async function flaggedLines(path: string): Promise<number[]> {
  let output: string;
  try {
    const { stdout, stderr } = await run(
      biome,
      ["lint", "--vcs-enabled=false", "--colors=off", "--max-diagnostics=none", path],
      { cwd: scratch },
    );
    output = stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  const lines = [...output.matchAll(/probe\.ts:(\d+):\d+ lint\/style\/noRestrictedImports/g)];
  return lines.map((m) => Number(m[1]));
}

describe("the public-entry-points import rule", () => {
  it.each(CONSUMERS)("fires on every internal or cross-package import in %s", async (path) => {
    expect(await flaggedLines(path)).toEqual([1, 2, 3, 4]);
  });

  it.each(CONSUMERS.map((path) => path.replace("probe", "clean")))(
    "allows the public entry points, own relative paths and builtins in %s",
    async (path) => {
      const { exitCode, output } = await lintAll(path);
      expect(output).not.toContain("noRestrictedImports");
      expect(exitCode).toBe(0);
    },
  );

  it("keeps wire/ dependency-free: only its own files", async () => {
    expect(await flaggedLines(WIRE_PROBE)).toEqual([1, 2]);
  });

  it("does not apply inside pool-core's own src", async () => {
    expect(await flaggedLines("packages/pool-core/src/host/probe.ts")).toEqual([]);
  });

  it("the real backends, agent, apps and wire/ obey it", async () => {
    const { output } = await lintAll(
      "packages/runner-agent/src packages/backend-docker/src packages/backend-fly/src packages/backend-k8s/src apps packages/pool-core/src/wire",
      repoRoot,
    );
    expect(output).not.toContain("noRestrictedImports");
  });
});

async function lintAll(
  paths: string,
  cwd = scratch,
): Promise<{ exitCode: number; output: string }> {
  try {
    const { stdout, stderr } = await run(
      biome,
      [
        "lint",
        "--vcs-enabled=false",
        "--colors=off",
        "--only=style/noRestrictedImports",
        ...paths.split(" "),
      ],
      { cwd },
    );
    return { exitCode: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}
