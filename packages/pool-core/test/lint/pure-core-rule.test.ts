/**
 * Proves the lint rule that keeps core/ pure actually fires (biome.json override +
 * tools/lint/no-math-random.grit), and only inside core/.
 *
 * Why not `biome lint --stdin-file-path=…`: with biome 2.6.8 stdin mode prints the input back
 * and exits 1 with "The contents aren't fixed" for ANY input (clean code too), and 0 with
 * `--write` even for Date.now(); it never reports the diagnostics. So the probe is linted as
 * a real file in a scratch copy of the repo's lint config, at the same relative paths.
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

const PROBE = `export function probe(): number {
  setTimeout(() => undefined, 1);
  return Date.now() + Math.random();
}
`;

let scratch = "";

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "flame-lint-"));
  const config = JSON.parse(readFileSync(join(repoRoot, "biome.json"), "utf8")) as Record<
    string,
    unknown
  >;
  delete config.$schema; // points into node_modules, which the scratch copy does not have
  writeFileSync(join(scratch, "biome.json"), JSON.stringify(config, null, 2));
  mkdirSync(join(scratch, "tools/lint"), { recursive: true });
  cpSync(join(repoRoot, "tools/lint"), join(scratch, "tools/lint"), { recursive: true });
  for (const path of [
    "packages/pool-core/src/core/probe.ts",
    "packages/pool-core/src/host/probe.ts",
  ]) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), PROBE);
  }
});

afterAll(() => {
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
});

async function lint(cwd: string, path: string): Promise<{ exitCode: number; output: string }> {
  try {
    const { stdout, stderr } = await run(
      biome,
      ["lint", "--vcs-enabled=false", "--colors=off", path],
      {
        cwd,
      },
    );
    return { exitCode: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("the pure-core lint rule", () => {
  it("rejects a clock, timers and randomness inside core/", async () => {
    const { exitCode, output } = await lint(scratch, "packages/pool-core/src/core/probe.ts");
    expect(exitCode).not.toBe(0);
    expect(output).toContain("lint/style/noRestrictedGlobals");
    expect(output).toContain("Do not use the global variable Date");
    expect(output).toContain("Do not use the global variable setTimeout");
    expect(output).toContain("Math.random is nondeterministic");
  });

  it("allows the same code outside core/", async () => {
    const { exitCode, output } = await lint(scratch, "packages/pool-core/src/host/probe.ts");
    expect(output).not.toContain("noRestrictedGlobals");
    expect(exitCode).toBe(0);
  });

  it("the real core/ obeys it", async () => {
    const { exitCode, output } = await lint(repoRoot, "packages/pool-core/src/core");
    expect(output).not.toContain("noRestrictedGlobals");
    expect(output).not.toContain("Math.random is nondeterministic");
    expect(exitCode).toBe(0);
  });
});
