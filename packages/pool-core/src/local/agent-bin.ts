/** Where LocalBackend finds the runner-agent it starts: the installed `flame-runner` bin. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { FlameError } from "../errors.js";

const found = new Map<string, string>();

/**
 * The agent's bin as installed (its package.json `bin`), i.e. built JavaScript, resolved the
 * way Node resolves a package imported from `fromUrl` (default: this module, so next to
 * pool-core). Resolving the `./bin` export instead would follow a bundler's "source"
 * condition under vitest and hand plain `node` a .ts file.
 */
export function resolveAgentBin(fromUrl: string = import.meta.url): string {
  const cached = found.get(fromUrl);
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(fromUrl);
    const manifestPath = require.resolve("@flame-ts/runner-agent/package.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
      bin?: Record<string, string>;
    };
    const bin = manifest.bin?.["flame-runner"];
    if (bin === undefined) throw new Error("its package.json has no `flame-runner` bin");
    const path = join(dirname(manifestPath), bin);
    found.set(fromUrl, path);
    return path;
  } catch (cause) {
    // Permanent: retrying cannot install a package, so the pool fails its callers at once
    // instead of retrying every second.
    throw new FlameError(
      "BOOT_FAILED",
      `LocalBackend could not find @flame-ts/runner-agent (${firstLine(cause)}): install it next to @flame-ts/pool-core (npm install @flame-ts/runner-agent) or pass \`agentPath\`.`,
      { cause, permanent: true },
    );
  }
}

/** Node's "Cannot find module" error goes on with its whole require stack: keep the gist. */
function firstLine(error: unknown): string {
  return String(error).split("\n", 1)[0] ?? "";
}
