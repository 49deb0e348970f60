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
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
