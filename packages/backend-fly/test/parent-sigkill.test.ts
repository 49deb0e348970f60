import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { flameRunnerImage } from "./emulator/images.js";
import type { FlyEmulator } from "./emulator/server.js";
import { APP, startEmulator, TOKEN } from "./helpers.js";

// The parent script imports the built package (`dist/`), like a deployed app would.
const PARENT_SCRIPT = fileURLToPath(new URL("./fixtures/parent-pool.mjs", import.meta.url));
const RUNNER_IMAGE = "registry.fly.io/flame-test:runner";

let emulator: FlyEmulator | undefined;
let parentProcess: ChildProcess | undefined;

afterEach(async () => {
  if (parentProcess && parentProcess.exitCode === null && parentProcess.signalCode === null) {
    parentProcess.kill("SIGKILL");
    await once(parentProcess, "exit");
  }
  await emulator?.close();
});

it("parent SIGKILL: every runner-agent exits (link lost), its Machine stops and is auto-destroyed", async () => {
  emulator = await startEmulator({
    images: {
      [RUNNER_IMAGE]: flameRunnerImage(new URL("./fixtures/functions.mjs", import.meta.url)),
    },
  });
  const count = 3;
  parentProcess = spawn(
    process.execPath,
    [PARENT_SCRIPT, emulator.url, TOKEN, APP, RUNNER_IMAGE, String(count)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const line = await firstLine(parentProcess, 30_000);
  const { machineIds } = JSON.parse(line) as { machineIds: string[] };
  expect(machineIds).toHaveLength(count);
  for (const id of machineIds) expect(emulator.machine(id)?.state).toBe("started");

  const killedAtMs = Date.now();
  parentProcess.kill("SIGKILL");
  await Promise.all(machineIds.map((id) => emulator?.waitFor(id, "destroyed", 20_000)));
  console.log(`parent SIGKILL → last runner Machine destroyed after ${Date.now() - killedAtMs} ms`);

  for (const id of machineIds) {
    expect(emulator.pid(id)).toBeUndefined();
    // runner-agent's last line names why it ended (exit code 3 = parent link lost).
    expect(emulator.stderr(id).at(-1)).toMatch(/^flame-runner: /);
    expect(
      emulator.machine(id)?.events?.find((e) => e.type === "exit")?.request?.exit_event?.exit_code,
    ).toBe(3);
  }
});

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(
      () => reject(new Error(`parent printed nothing within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(buffered.slice(0, newline));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`parent exited early with ${code}`));
    });
  });
}
