#!/usr/bin/env node
/**
 * Builds `flame-ts/npm-base:local`: the FROM-scratch node base (`flame-ts/node-base:local`,
 * from build-test-image.mjs) plus this machine's npm, a POSIX shell and `env`. It stands in
 * for `node:24-slim` as BUILD_IMAGE when a test builds an app image with
 * packages/runner-agent/Dockerfile, whose build stages run `npm ci` and `npm run build`.
 * Nothing is pulled.
 *
 *   node scripts/docker/build-npm-base.mjs [--tag name:tag] [--base-tag name:tag]
 */
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    tag: { type: "string", default: "flame-ts/npm-base:local" },
    "base-tag": { type: "string", default: "flame-ts/node-base:local" },
  },
});

const npmDir = join(execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim(), "npm");
const work = mkdtempSync(join(tmpdir(), "flame-ts-npm-base-"));
try {
  const rootfs = join(work, "rootfs");
  // The node base already has libc and the loader, all that dash and env need.
  place(execFileSync("readlink", ["-f", "/bin/sh"], { encoding: "utf8" }).trim(), "bin/sh");
  place("/usr/bin/env", "usr/bin/env");
  cpSync(npmDir, join(rootfs, "usr/local/lib/node_modules/npm"), { recursive: true });
  mkdirSync(join(rootfs, "usr/local/bin"), { recursive: true });
  for (const tool of ["npm", "npx"]) {
    const wrapper = join(rootfs, "usr/local/bin", tool);
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec node /usr/local/lib/node_modules/npm/bin/${tool}-cli.js "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
  }
  writeFileSync(
    join(work, "Dockerfile"),
    `FROM ${values["base-tag"]}\nCOPY rootfs/ /\nENV HOME=/tmp\nENTRYPOINT []\n`,
  );
  try {
    // The legacy builder pulls nothing for a local base and needs no BuildKit.
    execFileSync("docker", ["build", "--quiet", "-t", values.tag, work], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
  } catch (error) {
    // Only shown on failure: the legacy builder prints a deprecation notice every time.
    process.stderr.write(error.stderr ?? "");
    throw new Error(
      `build-npm-base: docker build of ${values.tag} failed (is ${values["base-tag"]} built? node scripts/docker/build-test-image.mjs)`,
    );
  }
  console.log(`build-npm-base: ${values.tag} ready (npm from ${npmDir})`);

  function place(from, to) {
    const dest = join(rootfs, to);
    mkdirSync(join(dest, ".."), { recursive: true });
    cpSync(from, dest);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
