/**
 * Proves the purity lint (biome.json's override for pool-core's core/, with
 * tools/lint/no-math-random.grit) also fires in the agent's lifecycle/, and not beside it.
 *
 * The probe is linted as a real file in a scratch copy of the repo's lint config, at the same
 * relative paths: biome 2.6.8's `--stdin-file-path` mode never reports diagnostics (see
 * pool-core/test/lint/pure-core-rule.test.ts).
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
  process.exitCode = 1;
  return Date.now() + performance.now() + Math.random();
}
`;
const INSIDE = "packages/runner-agent/src/lifecycle/probe.ts";
const BESIDE = "packages/runner-agent/src/probe.ts";

let scratch = "";

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "flame-agent-lint-"));
  const config = JSON.parse(readFileSync(join(repoRoot, "biome.json"), "utf8")) as Record<
    string,
    unknown
  >;
  delete config.$schema; // points into node_modules, which the scratch copy does not have
  writeFileSync(join(scratch, "biome.json"), JSON.stringify(config, null, 2));
  mkdirSync(join(scratch, "tools/lint"), { recursive: true });
  cpSync(join(repoRoot, "tools/lint"), join(scratch, "tools/lint"), { recursive: true });
  for (const path of [INSIDE, BESIDE]) {
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
      ["lint", "--vcs-enabled=false", "--colors=off", "--max-diagnostics=50", path],
      { cwd },
    );
    return { exitCode: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("the purity lint on the agent's lifecycle/", () => {
  it("rejects a clock, timers, process and randomness inside lifecycle/", async () => {
    const { exitCode, output } = await lint(scratch, INSIDE);
    expect(exitCode).not.toBe(0);
    expect(output).toContain("lint/style/noRestrictedGlobals");
    for (const global of ["Date", "performance", "setTimeout", "process"]) {
      expect(output).toContain(`Do not use the global variable ${global}`);
    }
    expect(output).toContain("Math.random is nondeterministic");
  });

  it("allows the same code beside lifecycle/ (the driver, the session, the executors)", async () => {
    const { exitCode, output } = await lint(scratch, BESIDE);
    expect(output).not.toContain("noRestrictedGlobals");
    expect(exitCode).toBe(0);
  });

  it("the real lifecycle/ obeys it", async () => {
    const { exitCode, output } = await lint(repoRoot, "packages/runner-agent/src/lifecycle");
    expect(output).not.toContain("noRestrictedGlobals");
    expect(output).not.toContain("Math.random is nondeterministic");
    expect(exitCode).toBe(0);
  });
});
