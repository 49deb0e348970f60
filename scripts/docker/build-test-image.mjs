#!/usr/bin/env node
/**
 * Builds `flame-ts/runner-test:local`, the image the Docker test suites run, FROM scratch:
 * nothing can be pulled on CI, so the image is this machine's own `node` binary, the shared
 * libraries `ldd` lists for it (plus the dynamic loader), an esbuild bundle of runner-agent
 * and one bundle per test-function module. The entrypoint runs the agent; pick the functions
 * with FLAME_ENTRY (default: the conformance fixture).
 *
 *   node scripts/docker/build-test-image.mjs [--tag name:tag] [--base-tag name:tag]
 *
 * Also tags `flame-ts/node-base:local` (scratch + node only) so the user-facing
 * packages/runner-agent/Dockerfile can be built here with BASE_IMAGE=flame-ts/node-base:local.
 *
 * Bundled function modules (in the image as /app/fixtures/<file name>):
 *   packages/pool-core/src/testing/**.mjs      the backend conformance suite's functions
 *   packages/backend-docker/test/fixtures/*.mjs the Docker suite's own functions
 *   packages/backend-k8s/test/fixtures/*.mjs    the Kubernetes suite's (its in-cluster parent app)
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    tag: {
      type: "string",
      default: "flame-ts/runner-test:local",
    },
    "base-tag": { type: "string", default: "flame-ts/node-base:local" },
  },
});

const FIXTURE_DIRS = [
  { dir: join(repo, "packages/pool-core/src/testing"), recursive: true },
  { dir: join(repo, "packages/backend-docker/test/fixtures"), recursive: false },
  { dir: join(repo, "packages/backend-k8s/test/fixtures"), recursive: false },
];
const DEFAULT_FIXTURE = "conformance-functions.mjs";

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), "flame-ts-image-"));
try {
  const rootfs = join(work, "rootfs");
  copyNodeRuntime(rootfs);
  writeFileSync(join(work, "Dockerfile.base"), baseDockerfile());
  docker(["build", "--quiet", "-f", join(work, "Dockerfile.base"), "-t", values["base-tag"], work]);

  const app = join(work, "app");
  await bundleAgent(join(app, "agent.mjs"));
  const fixtures = await bundleFixtures(join(app, "fixtures"));
  const defaultFixture = fixtures.includes(DEFAULT_FIXTURE) ? DEFAULT_FIXTURE : fixtures[0];
  writeFileSync(join(work, "Dockerfile"), testDockerfile(values["base-tag"], defaultFixture));
  docker(["build", "--quiet", "-f", join(work, "Dockerfile"), "-t", values.tag, work]);
  console.log(
    `build-test-image: ${values.tag} ready in ${Date.now() - started} ms (fixtures: ${fixtures.join(", ") || "none"})`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** node + every library ldd resolves + the loader, at the paths the binary expects. */
function copyNodeRuntime(rootfs) {
  const nodeBinary = realpathSync(process.execPath);
  place(nodeBinary, join(rootfs, "usr/local/bin/node"));
  const ldd = execFileSync("ldd", [nodeBinary], { encoding: "utf8" });
  for (const line of ldd.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) place(realpathSync(match[1]), join(rootfs, match[1]));
  }
  // World-writable and sticky like any /tmp: runners run as uid 65534 by default. chmod, not
  // mkdir's mode, which the umask would narrow to 0755.
  mkdirSync(join(rootfs, "tmp"), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
}

function place(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

async function bundleAgent(outfile) {
  await bundle(agentSource("bin"), outfile);
  // The agent starts its worker threads from `./worker.js` beside itself.
  await bundle(agentSource("executor/worker"), join(dirname(outfile), "worker.js"));
}

function agentSource(name) {
  const src = join(repo, `packages/runner-agent/src/${name}.ts`);
  const dist = join(repo, `packages/runner-agent/dist/${name}.js`);
  const entry = existsSync(src) ? src : dist;
  if (!existsSync(entry)) throw new Error(`build-test-image: runner-agent entry missing (${src})`);
  return entry;
}

async function bundleFixtures(outdir) {
  mkdirSync(outdir, { recursive: true });
  const names = [];
  for (const { dir, recursive } of FIXTURE_DIRS) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir, { recursive, encoding: "utf8" })) {
      if (!file.endsWith(".mjs")) continue;
      const name = basename(file);
      if (names.includes(name)) throw new Error(`build-test-image: two fixtures named ${name}`);
      await bundle(join(dir, file), join(outdir, name));
      names.push(name);
    }
  }
  return names;
}

/** One self-contained ESM file; workspace packages resolve to their TypeScript sources. */
async function bundle(entryPoint, outfile) {
  await build({
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["source"],
    // ws loads these optional native helpers in a try/catch; they are not installed.
    external: ["bufferutil", "utf-8-validate"],
    // CommonJS dependencies (ws) call require() for node builtins.
    banner: {
      js: 'import { createRequire as __flameCreateRequire } from "node:module"; const require = __flameCreateRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
}

function baseDockerfile() {
  return `FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/node"]
`;
}

function testDockerfile(base, defaultFixture) {
  return `FROM ${base}
COPY app/ /app/
WORKDIR /app
ENV NODE_ENV=production${defaultFixture ? ` FLAME_ENTRY=/app/fixtures/${defaultFixture}` : ""}
LABEL org.opencontainers.image.title="flame-ts runner-agent test image"
ENTRYPOINT ["/usr/local/bin/node", "/app/agent.mjs"]
`;
}

function docker(args) {
  // The legacy builder needs no BuildKit/buildx and pulls nothing for FROM scratch.
  try {
    execFileSync("docker", args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
  } catch (error) {
    // Only shown on failure: the legacy builder prints a deprecation notice every time.
    process.stderr.write(error.stderr ?? "");
    throw new Error(`build-test-image: docker ${args.join(" ")} failed`);
  }
}
