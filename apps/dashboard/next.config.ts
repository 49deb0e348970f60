import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

// The monorepo root (one lockfile for every workspace).
const root = fileURLToPath(new URL("../..", import.meta.url));

const config: NextConfig = {
  turbopack: { root },
  // A self-contained server (.next/standalone) with just the node_modules it needs: the
  // published package ships it, so `flame-dashboard` starts with no build step.
  output: "standalone",
  outputFileTracingRoot: root,
  // Loaded by Node at run time (the dashboard's server dials telemetry endpoints with ws).
  serverExternalPackages: ["ws"],
  // No next/image here: leaving the optimizer out keeps sharp (~20 MB) out of the package.
  images: { unoptimized: true },
  outputFileTracingExcludes: { "*": ["../../node_modules/sharp/**", "../../node_modules/@img/**"] },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default config;
