/**
 * The runner's token (in FLAME_PARENT) leaves no trace in any /proc/<pid>/environ that
 * function code or a child process it starts can open, and is worth nothing once the runner
 * said hello. Real flame-runner processes on the built dist/ (see agent-process.ts).
 */
import { readFileSync } from "node:fs";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  defineFunction,
  LocalBackend,
  Pool,
} from "@flame-ts/pool-core";
import {
  type AnyMessage,
  DEFAULT_EXECUTION,
  decodeParentDescriptor,
  encodeParentDescriptor,
} from "@flame-ts/pool-core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  AGENT_BIN,
  AgentProcess,
  descriptor,
  FUNCTIONS_FIXTURE,
  killAllAgents,
} from "./agent-process.js";
import { FakeParent, frame, input } from "./fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

const isResult = (m: AnyMessage): m is Extract<AnyMessage, { t: "result" }> => m.t === "result";

/** What procEnviron (test/fixtures/functions.mjs) returns. */
interface Seen {
  readonly pid: number;
  readonly self: string;
  readonly child: { readonly parentPid: number; readonly parent: string; readonly own: string };
}

/**
 * Where in an environ block (NUL-separated `name=value`) the token can be found: in clear,
 * as the encoded descriptor, or inside any FLAME_PARENT value once decoded.
 */
function traces(environ: string, encoded: string, token: string): string[] {
  const found: string[] = [];
  if (environ.includes(token)) found.push("the token");
  if (environ.includes(encoded)) found.push("the encoded FLAME_PARENT");
  for (const entry of environ.split("\0")) {
    if (!entry.startsWith("FLAME_PARENT=")) continue;
    const value = entry.slice("FLAME_PARENT=".length);
    if (Buffer.from(value, "base64url").toString("latin1").includes(token)) {
      found.push("a FLAME_PARENT that decodes to the token");
    }
  }
  return found;
}

describe.runIf(process.platform === "linux")("flame-runner: the token in /proc/*/environ", () => {
  for (const mode of ["threads", "inline"] as const) {
    it(`neither a function nor its child process finds it in /proc/self/environ or /proc/<agent pid>/environ (${mode})`, async () => {
      const parent = await FakeParent.listen();
      cleanups.push(() => parent.close());
      const d = descriptor(parent, { execution: { ...DEFAULT_EXECUTION, mode } });
      const encoded = encodeParentDescriptor(d);
      const agent = new AgentProcess({ FLAME_PARENT: encoded, FLAME_ENVIRON_MARKER: "kept" });
      const ws = await parent.connected;
      ws.send(frame({ t: "call", id: 1, fn: "procEnviron", args: input(null), timeoutMs: null }));
      const result = await parent.next(isResult, 20_000);
      expect(result).toMatchObject({ id: 1, ok: true });
      const seen = (result as { value: Seen }).value;

      // Each read is of the real environ of the agent (and of the child), nothing else.
      expect(seen.pid).toBe(agent.child.pid);
      expect(seen.child.parentPid).toBe(agent.child.pid);
      for (const environ of [seen.self, seen.child.parent, seen.child.own]) {
        expect(environ).toContain("FLAME_ENVIRON_MARKER=kept\0");
      }
      // Nor any other process of the same user (this test) while the runner serves.
      const outside = readFileSync(`/proc/${agent.child.pid}/environ`, "latin1");
      expect({
        "function: /proc/self/environ": traces(seen.self, encoded, d.token),
        "its child: /proc/<agent pid>/environ": traces(seen.child.parent, encoded, d.token),
        "its child: /proc/self/environ": traces(seen.child.own, encoded, d.token),
        "this test: /proc/<agent pid>/environ": traces(outside, encoded, d.token),
      }).toEqual({
        "function: /proc/self/environ": [],
        "its child: /proc/<agent pid>/environ": [],
        "its child: /proc/self/environ": [],
        "this test: /proc/<agent pid>/environ": [],
      });
    });
  }
});

/** The parent's side of the same fact: only its own runner's pid matters for the function. */
const pid = defineFunction<null, number>("pid", () => process.pid);

/** LocalBackend, remembering the FLAME_PARENT each runner was started with. */
class RecordingBackend implements Backend {
  readonly name = "recording";
  readonly started: string[] = [];
  readonly #inner = new LocalBackend({ entry: FUNCTIONS_FIXTURE, agentPath: AGENT_BIN });
  boot(req: BootRequest): Promise<BootedRunner> {
    this.started.push(req.env.FLAME_PARENT ?? "");
    return this.#inner.boot(req);
  }
}

describe("flame-runner: the token after the hello", () => {
  it("is worth nothing: a second runner started with the same FLAME_PARENT is refused (exit 4)", async () => {
    const backend = new RecordingBackend();
    const pool = new Pool({ name: "replay", max: 1, backend, shutdownTimeout: 5_000, log: false });
    cleanups.push(() => pool.stop());
    // A call answered: the runner said hello.
    const runnerPid = await pool.call(pid, null);
    expect(backend.started).toHaveLength(1);
    const stolen = backend.started[0] ?? "";
    expect(decodeParentDescriptor(stolen).token.length).toBeGreaterThan(0);

    const impostor = await new AgentProcess({ FLAME_PARENT: stolen }).exit();
    expect({ code: impostor.code, signal: impostor.signal }, impostor.stderr).toEqual({
      code: 4,
      signal: null,
    });
    // The parent no longer expects that runner id: its answer to the challenge proves nothing
    // (as for any unknown id), so the second runner stops before it proves anything itself.
    expect(impostor.lastLine).toMatch(
      /^flame-runner: the parent at ws:\/\/\S+ did not prove it holds this runner's token \(an impostor on that address, or a parent that no longer expects this runner\)/,
    );
    // The real runner still serves, and is the only one.
    expect(await pool.call(pid, null)).toBe(runnerPid);
    expect(backend.started).toHaveLength(1);
  });
});
