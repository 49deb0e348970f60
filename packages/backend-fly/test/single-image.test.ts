/**
 * Issue 13 on Fly: one image, one command. The image's ENTRYPOINT/CMD is
 * `flame-runner --entry <functions> --app <app>`; with no `init` override, a runner Machine
 * (FLAME_PARENT set) serves calls and the same command without FLAME_PARENT runs the app.
 * Issue 11 on Fly: worker-thread runners run in parallel, stop an endless loop and survive
 * an uncaught error.
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Pool } from "@flame-ts/pool-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  rendezvous,
  spinForever,
  throwLater,
  whereAmI,
} from "../../pool-core/test/fixtures/cpu-functions.mjs";
import { type ImageSpec, machineArgv, RUNNER_AGENT_BIN } from "./emulator/images.js";
import type { FlyEmulator } from "./emulator/server.js";
import { backendFor, startEmulator } from "./helpers.js";

const IMAGE = "registry.fly.io/flame-test:single";
const FUNCTIONS = fileURLToPath(
  new URL("../../pool-core/test/fixtures/cpu-functions.mjs", import.meta.url),
);
const APP = fileURLToPath(new URL("./fixtures/single-image-app.mjs", import.meta.url));
/** The app's image: one command for the parent and its runners. */
const singleImage: ImageSpec = {
  entrypoint: [process.execPath],
  cmd: [RUNNER_AGENT_BIN, "--entry", FUNCTIONS, "--app", APP],
};

let emulator: FlyEmulator | undefined;
let pool: Pool | undefined;
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
  await emulator?.close();
  emulator = undefined;
});

async function flyPool(options: Partial<ConstructorParameters<typeof Pool>[0]> = {}) {
  emulator = await startEmulator({ images: { [IMAGE]: singleImage } });
  pool = new Pool({
    name: "single",
    max: 1,
    maxConcurrency: 2,
    backend: backendFor(emulator, { image: IMAGE, region: "ord" }),
    bootTimeout: 20_000,
    shutdownTimeout: 5_000,
    ...options,
  });
  return pool;
}

describe("FlyBackend: the app's own image and command serve as runners", () => {
  it("without FLAME_PARENT the image's command runs the app", async () => {
    const [cmd, ...args] = machineArgv(singleImage, undefined);
    const env = { ...process.env };
    delete env.FLAME_PARENT;
    const { stdout } = await promisify(execFile)(cmd!, args, { env, timeout: 30_000 });
    expect(stdout).toMatch(/^app running as pid \d+/);
  });

  it("a runner Machine started from the same image, no init override, serves calls", async () => {
    const p = await flyPool();
    const where = await p.call(whereAmI, null);
    expect(where.pid).toBeGreaterThan(0);
    const machine = emulator!.machines().find((m) => m.state === "started");
    expect(machine?.config.init ?? {}).toEqual({});
  });

  it("two blocking calls run at once on two threads of one Machine", async () => {
    const p = await flyPool();
    const dir = mkdtempSync(join(tmpdir(), "flame-fly-meet-"));
    const peers = ["a", "b"];
    const [a, b] = await Promise.all(
      peers.map((name) => p.call(rendezvous, { dir, name, peers, boundMs: 20_000 })),
    );
    expect(a!.threadId).not.toBe(b!.threadId);
  }, 60_000);

  it("an endless loop gets TIMEOUT and an uncaught error REMOTE_ERROR; the Machine serves on", async () => {
    const p = await flyPool({ min: 1, execution: { terminateGraceMs: 200 } });
    await p.start();
    const runnerId = p.snapshot().runners[0]!.id;
    await expect(p.call(spinForever, {}, { timeout: 500 })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    await expect(p.call(throwLater, { message: "boom on fly" })).rejects.toMatchObject({
      code: "REMOTE_ERROR",
      remote: { message: "boom on fly" },
    });
    expect((await p.call(whereAmI, null)).pid).toBeGreaterThan(0);
    expect(p.snapshot().runners.map((r) => r.id)).toEqual([runnerId]);
  }, 60_000);
});
