/**
 * What an emulated image runs. On Fly an image is pulled and its entrypoint started; here the
 * emulator maps the image name to a local command. The runner-agent mapping starts the real
 * `flame-runner` bin (packages/runner-agent/dist/bin.js) with a fixture entry.
 */
import { fileURLToPath } from "node:url";

export interface ImageSpec {
  readonly command: string;
  readonly args: readonly string[];
}

export const RUNNER_AGENT_BIN = fileURLToPath(
  new URL("../../../runner-agent/dist/bin.js", import.meta.url),
);

/** The flame-ts runner image: `node flame-runner --entry <entry>`. */
export function flameRunnerImage(entry: string | URL): ImageSpec {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry;
  return { command: process.execPath, args: [RUNNER_AGENT_BIN, "--entry", path] };
}

/** Any node script as an image (test fixtures). */
export function nodeScriptImage(script: string | URL, ...args: string[]): ImageSpec {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  return { command: process.execPath, args: [path, ...args] };
}
