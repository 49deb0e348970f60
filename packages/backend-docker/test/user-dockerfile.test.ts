/**
 * packages/runner-agent/Dockerfile (the image users build for their app) builds and serves
 * calls. Built here on the FROM-scratch node base (nothing can be pulled), from an app
 * directory laid out like a user's: dist/functions.js + node_modules/@flame-ts/runner-agent.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Pool } from "@flame-ts/pool-core";
import { type BuildOptions, build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerBackend } from "../src/index.js";
import {
  ensureTestImage,
  probeDocker,
  RUN_LABEL,
  repoRoot,
  reportMissingDocker,
  runContainers,
  runTag,
  TEST_BASE_IMAGE,
  waitFor,
} from "./docker-env.js";
import { whereAmI } from "./fixtures/docker-functions.mjs";

const probe = await probeDocker();
const skip = reportMissingDocker(probe, "backend-docker user Dockerfile");
const BASE_IMAGE = TEST_BASE_IMAGE;
const USER_IMAGE = `flame-ts/user-dockerfile-test:${runTag}`;

describe.skipIf(skip)("packages/runner-agent/Dockerfile", () => {
  const docker = probe.ok ? probe.docker : (undefined as never);
  let appDir = "";

  beforeAll(async () => {
    await ensureTestImage(docker); // also tags the node base image
    appDir = mkdtempSync(join(tmpdir(), "flame-ts-user-app-"));
    const agentDir = join(appDir, "node_modules/@flame-ts/runner-agent");
    mkdirSync(join(agentDir, "dist"), { recursive: true });
    writeFileSync(join(appDir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(agentDir, "package.json"), JSON.stringify({ type: "module" }));
    const common: BuildOptions = {
      bundle: true,
      platform: "node",
      format: "esm",
      conditions: ["source"],
      external: ["bufferutil", "utf-8-validate"],
      banner: {
        js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);',
      },
      logLevel: "error",
    };
    await build({
      ...common,
      entryPoints: [join(repoRoot, "packages/runner-agent/src/bin.ts")],
      outfile: join(agentDir, "dist/bin.js"),
    });
    // The bundled agent starts its worker threads from `./worker.js` beside it.
    await build({
      ...common,
      entryPoints: [join(repoRoot, "packages/runner-agent/src/executor/worker.ts")],
      outfile: join(agentDir, "dist/worker.js"),
    });
    await build({
      ...common,
      entryPoints: [join(repoRoot, "packages/backend-docker/test/fixtures/docker-functions.mjs")],
      outfile: join(appDir, "dist/functions.js"),
    });
    await promisify(execFile)(
      "docker",
      [
        "build",
        "--quiet",
        "-f",
        join(repoRoot, "packages/runner-agent/Dockerfile"),
        "--build-arg",
        `BASE_IMAGE=${BASE_IMAGE}`,
        "--build-arg",
        "ENTRY=dist/functions.js",
        "-t",
        USER_IMAGE,
        appDir,
      ],
      { env: { ...process.env, DOCKER_BUILDKIT: "0" }, timeout: 120_000 },
    );
  }, 240_000);

  afterAll(async () => {
    if (appDir !== "") rmSync(appDir, { recursive: true, force: true });
    await waitFor(
      "containers removed",
      async () => (await runContainers(docker)).length === 0,
      15_000,
    ).catch(() => {});
    await docker
      .getImage(USER_IMAGE)
      .remove({ force: true })
      .catch(() => {});
  }, 30_000);

  it("builds an image whose runners load the app's entry and serve calls", async () => {
    const pool = new Pool({
      name: `ud${runTag}`,
      max: 1,
      backend: new DockerBackend({ image: USER_IMAGE, labels: { [RUN_LABEL]: runTag } }),
    });
    try {
      const out = await pool.call(whereAmI, null, { timeout: 30_000 });
      expect(out).toMatchObject({ pid: 1, entry: "/app/dist/functions.js" });
    } finally {
      await pool.stop();
    }
  });
});
