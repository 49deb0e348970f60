/**
 * The deploy path as a new user walks it, outside this repository (README "Install" and
 * packages/runner-agent/README.md "One image"): `npm pack` every package, install them into a
 * fresh app in the system temp directory (no workspace links) the way the README says, build
 * it with TypeScript in strict mode (`skipLibCheck: false`), run calls on LocalBackend, build
 * the app's image with the Dockerfile runner-agent ships, run that image as the app, run the
 * same calls on DockerBackend with that image as the runners' (single-image mode), and check
 * that nothing is left behind.
 *
 * Nothing is downloaded: the packages come from a registry on 127.0.0.1 fed by the packed
 * tarballs and this machine's npm cache (offline-registry.ts), and the image is built FROM the
 * repo's FROM-scratch node base (scripts/docker/) instead of node:24-slim. Slow (a couple of
 * minutes: two `npm ci`, a `tsc`, one image build): one file, every step bounded.
 */
import { execFile } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OfflineRegistry, type PackedPackage } from "./offline-registry.js";

const execFileP = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));
const fixture = fileURLToPath(new URL("../outside-app/", import.meta.url));
const PACKAGES = ["pool-core", "runner-agent", "backend-docker", "backend-fly"];
const RUN_LABEL = "flame-ts-test.run";
const runTag = `outside-${process.pid}-${Date.now().toString(36)}`;
const APP_IMAGE = `flame-ts/outside-app:${runTag}`;
const NODE_BASE = "flame-ts/node-base:local";
const NPM_BASE = "flame-ts/npm-base:local";

const docker = new Dockerode();
const dockerUp = await docker.ping().then(
  () => true,
  () => false,
);
if (!dockerUp && process.env.CI === "true") {
  throw new Error("outside-app: CI=true requires a Docker daemon; run .ci/docker.sh");
}
if (!dockerUp) console.warn("[outside-app] Docker parts skipped: no daemon (.ci/docker.sh)");

interface AppRun {
  readonly app: { readonly pid: number; readonly uid: number };
  readonly counts: readonly number[];
  readonly runner: {
    readonly pid: number;
    readonly uid: number;
    readonly cwd: string;
    readonly runnerId: string;
  };
}

/** The environment a user's shell would have: none of the outer npm's or vitest's settings. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|NODE_OPTIONS$|VITEST|FLAME_)/i.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

async function sh(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<string> {
  try {
    const { stdout } = await execFileP(file, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      timeout: options.timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${file} ${args.join(" ")} failed in ${options.cwd}: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`,
    );
  }
}

function lastJsonLine<T>(stdout: string): T {
  const line = stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .at(-1);
  if (line === undefined) throw new Error(`no JSON line in output:\n${stdout}`);
  return JSON.parse(line) as T;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function hasImage(tag: string): Promise<boolean> {
  return docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

async function labelled(kind: "containers" | "images"): Promise<number> {
  const filters = { label: [`${RUN_LABEL}=${runTag}`] };
  return kind === "containers"
    ? (await docker.listContainers({ all: true, filters })).length
    : (await docker.listImages({ all: true, filters })).length;
}

describe("an app outside the repo, from tarballs", () => {
  const work = mkdtempSync(join(tmpdir(), "flame-ts-outside-"));
  const appDir = join(work, "app");
  let registry: OfflineRegistry | null = null;
  let npmFlags: string[] = [];

  beforeAll(async () => {
    // 1. npm pack every package (built by `npm test`'s pretest).
    const tarballs = join(work, "tarballs");
    mkdirSync(tarballs);
    const packed: PackedPackage[] = [];
    for (const name of PACKAGES) {
      const dir = join(repo, "packages", name);
      const out = await sh("npm", ["pack", "--json", "--pack-destination", tarballs], {
        cwd: dir,
        timeoutMs: 60_000,
      });
      const [report] = JSON.parse(out.slice(out.indexOf("["))) as Array<{
        filename: string;
        integrity: string;
      }>;
      if (report === undefined) throw new Error(`npm pack printed no report for ${name}`);
      packed.push({
        manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")),
        tarballPath: join(tarballs, report.filename),
        integrity: report.integrity,
      });
    }
    const npmCache = (
      await sh("npm", ["config", "get", "cache"], { cwd: work, timeoutMs: 10_000 })
    ).trim();
    registry = new OfflineRegistry(join(repo, "package-lock.json"), npmCache, packed);
    const url = await registry.listen();
    npmFlags = [
      `--registry=${url}`,
      `--cache=${join(work, "npm-cache")}`,
      "--no-audit",
      "--no-fund",
      // The image's `npm ci` fetches from the lockfile's URLs: keep them in it.
      "--omit-lockfile-registry-resolved=false",
    ];

    // 2. A new app: package.json, tsconfig.json and src/ (examples/outside-app), then the
    //    README's install commands.
    cpSync(fixture, appDir, {
      recursive: true,
      filter: (src) => !/node_modules|dist/.test(src.slice(fixture.length)),
    });
    const root = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    await sh(
      "npm",
      [
        "install",
        ...npmFlags,
        "@flame-ts/pool-core",
        "@flame-ts/runner-agent",
        "@flame-ts/backend-docker",
      ],
      { cwd: appDir, timeoutMs: 120_000 },
    );
    await sh(
      "npm",
      [
        "install",
        "--save-dev",
        ...npmFlags,
        `typescript@${root.devDependencies.typescript}`,
        `@types/node@${root.devDependencies["@types/node"]}`,
      ],
      { cwd: appDir, timeoutMs: 120_000 },
    );
  }, 300_000);

  afterAll(async () => {
    await registry?.close();
    rmSync(work, { recursive: true, force: true });
    if (dockerUp) {
      const images = await docker.listImages({
        all: true,
        filters: { label: [`${RUN_LABEL}=${runTag}`] },
      });
      // The app image first, then the stage images the build left (newest first).
      for (const image of images.sort((a, b) => b.Created - a.Created)) {
        await docker
          .getImage(image.Id)
          .remove({ force: true })
          .catch(() => {});
      }
      expect(await labelled("containers")).toBe(0);
      expect(await labelled("images")).toBe(0);
    }
    expect(existsSync(work)).toBe(false);
  }, 120_000);

  it("installs as a user would: real copies, caret ranges, the Dockerfile recipe shipped", () => {
    const pkg = JSON.parse(readFileSync(join(appDir, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies["@flame-ts/pool-core"]).toBe("^0.1.0");
    const agentDir = join(appDir, "node_modules/@flame-ts/runner-agent");
    const agentPkg = JSON.parse(readFileSync(join(agentDir, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(agentPkg.dependencies["@flame-ts/pool-core"]).toBe("^0.1.0");
    const dockerfile = readFileSync(join(agentDir, "Dockerfile"), "utf8");
    // A supported LTS by default (the tests below override it: nothing can be pulled here).
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=node:24-slim$/m);
    expect(existsSync(join(agentDir, "Dockerfile.dockerignore"))).toBe(true);
    // npm asks for packuments of optional peers it will not install; every tarball was there.
    expect(registry?.misses.filter((path) => path.includes("/-/"))).toEqual([]);
  });

  it("type-checks against the packages' .d.ts with skipLibCheck: false", async () => {
    await sh("npm", ["run", "build"], { cwd: appDir, timeoutMs: 120_000 });
    expect(existsSync(join(appDir, "dist/server.js"))).toBe(true);
  }, 150_000);

  it("runs calls on LocalBackend, runners leave no process behind", async () => {
    const out = await sh(process.execPath, ["dist/server.js"], {
      cwd: appDir,
      env: cleanEnv({ FLAME_BACKEND: "local" }),
      timeoutMs: 90_000,
    });
    const run = lastJsonLine<AppRun>(out);
    expect(run.counts).toEqual([2, 3, 1]);
    expect(run.runner.pid).not.toBe(run.app.pid);
    expect(alive(run.runner.pid)).toBe(false);
  }, 120_000);

  describe.skipIf(!dockerUp)("with Docker: one image for the app and its runners", () => {
    beforeAll(async () => {
      // Stand-ins for node:24-slim (nothing can be pulled): node alone for the runtime stage,
      // node + npm + sh for the build stages.
      // Built on demand like the Docker suites' test image; .ci/docker.sh builds both.
      if (!(await hasImage(NODE_BASE))) {
        await sh(process.execPath, ["scripts/docker/build-test-image.mjs"], {
          cwd: repo,
          timeoutMs: 240_000,
        });
      }
      if (!(await hasImage(NPM_BASE))) {
        await sh(process.execPath, ["scripts/docker/build-npm-base.mjs", "--tag", NPM_BASE], {
          cwd: repo,
          timeoutMs: 120_000,
        });
      }
      // What must never reach the image.
      writeFileSync(join(appDir, ".env"), "DATABASE_PASSWORD=hunter2\n");
      mkdirSync(join(appDir, ".git"));
      writeFileSync(join(appDir, ".git/HEAD"), "ref: refs/heads/main\n");
      // The runner-agent README's commands.
      copyFileSync(
        join(appDir, "node_modules/@flame-ts/runner-agent/Dockerfile.dockerignore"),
        join(appDir, ".dockerignore"),
      );
      await sh(
        "docker",
        [
          "build",
          "--quiet",
          "-f",
          "node_modules/@flame-ts/runner-agent/Dockerfile",
          "--build-arg",
          `BASE_IMAGE=${NODE_BASE}`,
          "--build-arg",
          `BUILD_IMAGE=${NPM_BASE}`,
          "--build-arg",
          "ENTRY=dist/functions.js",
          "--build-arg",
          "APP=dist/server.js",
          // The stage images get it too, so afterAll removes exactly what this run built.
          "--label",
          `${RUN_LABEL}=${runTag}`,
          // `npm ci` reaches the 127.0.0.1 registry (the daemon runs with no bridge anyway).
          "--network",
          "host",
          "--force-rm",
          "-t",
          APP_IMAGE,
          ".",
        ],
        { cwd: appDir, env: cleanEnv({ DOCKER_BUILDKIT: "0" }), timeoutMs: 400_000 },
      );
    }, 600_000);

    it("the image holds the built app and its production dependencies only", async () => {
      const out = await sh(
        "docker",
        [
          "run",
          "--rm",
          "--label",
          `${RUN_LABEL}=${runTag}`,
          "--entrypoint",
          "node",
          APP_IMAGE,
          "-e",
          `const fs = require("node:fs");
           console.log(JSON.stringify({
             app: fs.readdirSync("/app").sort(),
             typescript: fs.existsSync("/app/node_modules/typescript"),
             uid: process.getuid(),
           }));`,
        ],
        { cwd: appDir, timeoutMs: 60_000 },
      );
      expect(lastJsonLine(out)).toEqual({
        app: ["dist", "node_modules", "package.json"],
        typescript: false,
        uid: 1000,
      });
    }, 90_000);

    it("`docker run <image>` is the app: in-process as PID 1, non-root, its runners local", async () => {
      const out = await sh(
        "docker",
        [
          "run",
          "--rm",
          "--network",
          "host",
          "--label",
          `${RUN_LABEL}=${runTag}`,
          "-e",
          "FLAME_BACKEND=local",
          APP_IMAGE,
        ],
        { cwd: appDir, timeoutMs: 120_000 },
      );
      const run = lastJsonLine<AppRun>(out);
      expect(run.app).toEqual({ pid: 1, uid: 1000 });
      expect(run.counts).toEqual([2, 3, 1]);
      expect(run.runner).toMatchObject({ uid: 1000, cwd: "/app" });
    }, 150_000);

    it("DockerBackend runs the same image as runners (FLAME_PARENT set), none left behind", async () => {
      const out = await sh(process.execPath, ["dist/server.js"], {
        cwd: appDir,
        env: cleanEnv({
          FLAME_BACKEND: "docker",
          APP_IMAGE,
          APP_LABELS: JSON.stringify({ [RUN_LABEL]: runTag }),
        }),
        timeoutMs: 150_000,
      });
      const run = lastJsonLine<AppRun>(out);
      expect(run.counts).toEqual([2, 3, 1]);
      // flame-runner is the container's PID 1, as the app is when the image runs as the app.
      expect(run.runner).toMatchObject({ pid: 1, uid: 1000, cwd: "/app" });
      await expect.poll(() => labelled("containers"), { timeout: 30_000, interval: 200 }).toBe(0);
    }, 180_000);
  });
});
