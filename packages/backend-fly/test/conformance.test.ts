// The shared backend conformance suite, run against FlyBackend + the Machines API emulator. Each
// emulated Machine runs the real runner-agent (packages/runner-agent/dist) on the suite's entry.
import { conformanceEntry, describeBackendConformance } from "@flame-ts/pool-core/testing";
import { afterAll, beforeAll } from "vitest";
import { flameRunnerImage } from "./emulator/images.js";
import type { FlyEmulator } from "./emulator/server.js";
import { backendFor, startEmulator } from "./helpers.js";

const RUNNER_IMAGE = "registry.fly.io/flame-test:conformance";
let emulator: FlyEmulator | undefined;

beforeAll(async () => {
  emulator = await startEmulator({
    images: { [RUNNER_IMAGE]: flameRunnerImage(conformanceEntry) },
  });
});
afterAll(async () => {
  await emulator?.close();
});

function running(): FlyEmulator {
  if (!emulator) throw new Error("emulator not started");
  return emulator;
}

describeBackendConformance("fly (emulator)", () => backendFor(running(), { image: RUNNER_IMAGE }), {
  killRunner: (meta) => running().crash(meta.machineId ?? ""),
  bootTimeoutMs: 20_000,
});
