/**
 * Protocol 8: a runner that dials while its entry module still loads says `loading` first.
 * The parent's hello deadline then no longer applies; the boot deadline (the expectation's
 * signal) bounds the load, and its error names the entry the runner was still loading.
 */
import { describe, expect, it, vi } from "vitest";
import { FlameError } from "../../src/errors.js";
import { type LinkLogLevel, RunnerServer } from "../../src/link/index.js";
import { generateToken } from "../../src/protocol.js";
import { CLOSE_PROTOCOL, PROTOCOL_VERSION } from "../../src/wire/index.js";
import { cleanups } from "./cleanups.js";
import { FakeRunner, isT } from "./fake-runner.js";
import { rejection } from "./rejection.js";

const ENTRY = "file:///app/dist/functions.js";

async function loadingRunner(helloTimeoutMs = 10_000) {
  const logs: Array<{ level: LinkLogLevel; msg: string }> = [];
  let sawLoading!: () => void;
  // Waited for by the log itself, not by polling: a poll under fake timers advances them.
  const loadingSeen = new Promise<void>((resolve) => {
    sawLoading = resolve;
  });
  const server = await RunnerServer.listen({
    helloTimeoutMs,
    log: (level, msg) => {
      logs.push({ level, msg });
      if (msg === "runner is loading its entry") sawLoading();
    },
  });
  cleanups.push(() => server.close());
  const token = generateToken();
  const boot = new AbortController();
  const expecting = server.expect("r1", token, boot.signal);
  expecting.catch(() => {});
  const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
  cleanups.push(() => runner.close());
  runner.send({ t: "loading", runnerId: "r1", protocol: PROTOCOL_VERSION, entry: ENTRY });
  await loadingSeen;
  return { server, logs, boot, expecting, runner };
}

describe("a runner still loading its entry", () => {
  it("is not held to the hello deadline: its hello after helloTimeoutMs still joins it", async () => {
    // The server's hello timer runs on fake time: on a loaded machine the `loading` frame took
    // over the 100 ms deadline to arrive (a CI run on Node 24), and the runner was refused before
    // it could say it was loading. Here only the test moves time, once `loading` is in.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { expecting, runner } = await loadingRunner(100);
    // Several hello deadlines pass while the entry loads.
    vi.advanceTimersByTime(400);
    runner.hello("r1", ["fromEntry"]);
    const conn = await expecting;
    expect([...conn.functions]).toEqual(["fromEntry"]);
    await runner.next(isT("welcome"));
  });

  it("that never says hello fails its boot when the boot deadline aborts the wait, naming the entry and the bound, and is hung up on", async () => {
    const { expecting, runner, boot, logs } = await loadingRunner();
    boot.abort(
      new FlameError("BOOT_FAILED", "runner r1 did not say hello within bootTimeout (500 ms)"),
    );
    const error = await rejection(expecting);
    expect(error.code).toBe("BOOT_FAILED");
    expect(error.message).toContain("within bootTimeout (500 ms)");
    expect(error.message).toContain(`still loading its entry ${ENTRY}`);
    expect(logs.some((l) => l.level === "warn" && l.msg.includes(ENTRY))).toBe(true);
    await runner.closed;
  });

  it("may say loading once: a second loading is refused", async () => {
    const { runner } = await loadingRunner();
    runner.send({ t: "loading", runnerId: "r1", protocol: PROTOCOL_VERSION, entry: ENTRY });
    expect(await runner.closed).toEqual({
      code: CLOSE_PROTOCOL,
      reason: "expected hello, got loading",
    });
  });

  it("is refused when its loading names another runner, as a hello would be", async () => {
    const server = await RunnerServer.listen({ log: () => {} });
    cleanups.push(() => server.close());
    const token = generateToken();
    void server.expect("r1", token, AbortSignal.timeout(10_000)).catch(() => {});
    const runner = await FakeRunner.connect(server.url, { runnerId: "r1", token });
    cleanups.push(() => runner.close());
    runner.send({ t: "loading", runnerId: "r2", protocol: PROTOCOL_VERSION, entry: null });
    const closed = await runner.closed;
    expect(closed.code).toBe(CLOSE_PROTOCOL);
    expect(closed.reason).toContain("loading names runner r2");
  });
});
