import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const config: NextConfig = {
  // The monorepo root (one lockfile for every workspace).
  turbopack: { root: fileURLToPath(new URL("../..", import.meta.url)) },
  reactStrictMode: true,
};

export default config;
