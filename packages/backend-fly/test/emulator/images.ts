/**
 * What an emulated image runs. On Fly an image is pulled and its ENTRYPOINT + CMD started,
 * unless the Machine's `config.init` overrides them; here an image name maps to a local
 * ENTRYPOINT and CMD (argv[0] is a local executable), and the same override rules apply
 * (https://fly.io/docs/machines/api/machines-resource/#machine-config-object-properties,
 * `init`): `exec` replaces both, `entrypoint` replaces ENTRYPOINT, `cmd` replaces CMD.
 */
import { fileURLToPath } from "node:url";
import type { MachineInit } from "./fly-types.js";

export interface ImageSpec {
  /** The image's ENTRYPOINT (may be empty: CMD is then the whole command). */
  readonly entrypoint: readonly string[];
  /** The image's CMD. */
  readonly cmd: readonly string[];
}

export const RUNNER_AGENT_BIN = fileURLToPath(
  new URL("../../../runner-agent/dist/bin.js", import.meta.url),
);

/** The flame-ts runner image: ENTRYPOINT `node`, CMD `flame-runner --entry <entry>`. */
export function flameRunnerImage(entry: string | URL): ImageSpec {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry;
  return { entrypoint: [process.execPath], cmd: [RUNNER_AGENT_BIN, "--entry", path] };
}

/** Any node script as an image (test fixtures): ENTRYPOINT `node`, CMD `<script> …args`. */
export function nodeScriptImage(script: string | URL, ...args: string[]): ImageSpec {
  return { entrypoint: [process.execPath], cmd: [filePath(script), ...args] };
}

function filePath(path: string | URL): string {
  return path instanceof URL ? fileURLToPath(path) : path;
}

/**
 * The argv a Machine runs. Fly's documented overrides: `init.exec` is the whole command;
 * otherwise `init.entrypoint` (else the image's) followed by `init.cmd` (else the image's).
 * An empty result is a Machine that cannot start.
 */
export function machineArgv(image: ImageSpec, init: MachineInit | undefined): string[] {
  if (init?.exec && init.exec.length > 0) return [...init.exec];
  return [...(init?.entrypoint ?? image.entrypoint), ...(init?.cmd ?? image.cmd)];
}
