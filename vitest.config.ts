import { availableParallelism } from "node:os";
import { defaultServerConditions, defineConfig } from "vite";

// One vitest run covers every workspace. The "source" export condition makes workspace
// packages resolve to their TypeScript sources, so tests need no build of the package under
// test (runner processes spawned by tests still run the built dist/, see README "Testing").
// "module" is left out: it makes OpenTelemetry load ESM builds whose imports lack extensions.
const conditions = ["source", ...defaultServerConditions.filter((c) => c !== "module")];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "examples/test/**/*.test.ts",
      "bench/test/**/*.test.ts",
    ],
    // Type tests: *.test-d.ts are only compiled (tsc), never run; a failed expectTypeOf or an
    // unused @ts-expect-error fails `npm test` like a failed assertion.
    typecheck: {
      enabled: true,
      include: ["packages/*/test/**/*.test-d.ts", "apps/*/test/**/*.test-d.ts"],
      tsconfig: "tsconfig.type-tests.json",
    },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Vitest's default is one worker fewer than the CPUs: one file at a time on a 2-core
    // machine. Most files here wait on processes, containers and pods rather than compute, so
    // one per CPU halves the wall time; each file's runners, containers, namespaces and ports
    // are its own (run tags, free ports), so files do not see each other.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
