/** Calls through a real pool of runner-agent processes: values, errors, cancellation, crashes. */
import { describe, expect, it } from "vitest";
import { defineFunction, type FlameError, LocalBackend } from "../../src/index.js";
import {
  add,
  bytesSeen,
  crash,
  echo,
  fail,
  seenAborts,
  sleep,
  unserialisable,
  waitForAbort,
  whoami,
} from "../fixtures/functions.mjs";
import { hasOpenssl, selfSignedCert } from "../link/tls-cert.js";
import { codeOf, fixtureEntry, localPool } from "./helpers.js";

const onlyInParent = defineFunction("e2e.onlyInParent", () => 1);

describe("LocalBackend pool: calls", () => {
  it("values keep their type across the wire", async () => {
    const pool = localPool();
    const value = {
      date: new Date("2024-01-02T03:04:05Z"),
      map: new Map<unknown, unknown>([["k", { deep: [1, 2] }]]),
      set: new Set([1, "two"]),
      big: 12345678901234567890n,
      bytes: new Uint8Array([0, 255, 7]),
      floats: new Float64Array([1.5, -0]),
      error: new RangeError("kept"),
      nested: { undef: undefined, nan: Number.NaN },
    };
    const back = (await pool.call(echo, value)) as typeof value;
    expect(back.date).toBeInstanceOf(Date);
    expect(back.date.getTime()).toBe(value.date.getTime());
    expect(back.map).toBeInstanceOf(Map);
    expect(back.map.get("k")).toEqual({ deep: [1, 2] });
    expect(back.set).toEqual(new Set([1, "two"]));
    expect(back.big).toBe(12345678901234567890n);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect([...back.bytes]).toEqual([0, 255, 7]);
    expect(back.floats).toBeInstanceOf(Float64Array);
    expect(back.error).toBeInstanceOf(RangeError);
    expect(back.error.message).toBe("kept");
    expect("undef" in back.nested && Number.isNaN(back.nested.nan)).toBe(true);
    expect(await pool.call(add, { a: 2, b: 40 })).toBe(42);
  });

  it("a large binary argument reaches its thread copied once, a view into its own call's frame only", async () => {
    const pool = localPool({ max: 1, maxConcurrency: 4 });
    const MIB = 1024 * 1024;
    const markers = ["call-A-bytes", "call-B-bytes", "call-C-bytes", "call-D-bytes"];
    const seen = await Promise.all(
      markers.map((marker, i) => {
        const bytes = Buffer.alloc(MIB, marker);
        const other = markers[(i + 1) % markers.length] as string;
        return pool.call(bytesSeen, { bytes, otherReversed: [...other].reverse().join("") });
      }),
    );
    for (const view of seen) {
      expect(view.byteLength).toBe(MIB);
      // Not a copy of its own (that buffer would be exactly 1 MiB): the frame it arrived in,
      // whose other bytes are that call's header and envelope.
      expect(view.bufferBytes).toBeGreaterThan(MIB);
      expect(view.bufferBytes).toBeLessThan(MIB + 4096);
      expect(view.holdsOther).toBe(false);
    }
  });

  it("a remote throw is REMOTE_ERROR with the remote name, message and stack; the pool keeps serving", async () => {
    const pool = localPool();
    const error = (await pool.call(fail, { message: "bad pixel" }).catch((e) => e)) as FlameError;
    expect(error.code).toBe("REMOTE_ERROR");
    expect(error.remote?.name).toBe("ThumbnailError");
    expect(error.remote?.message).toBe("bad pixel");
    expect(error.remote?.stack).toContain("functions.mjs");
    expect(await pool.call(add, { a: 1, b: 1 })).toBe(2);
  });

  it("timeout covers the run: a slow call fails TIMEOUT and its function sees ctx.signal abort", async () => {
    const pool = localPool();
    await pool.call(echo, "warm");
    expect(await codeOf(pool.call(waitForAbort, { tag: "deadline" }, { timeout: 300 }))).toBe(
      "TIMEOUT",
    );
    await expect
      .poll(async () => ((await pool.call(seenAborts, null)) as string[]).includes("deadline"), {
        timeout: 10_000,
        message: "the runner to see the deadline abort",
      })
      .toBe(true);
  });

  it("timeout covers the queue: a caller behind a busy runner at max times out", async () => {
    const pool = localPool({ max: 1, maxConcurrency: 1 });
    await pool.call(echo, "warm");
    const busy = pool.call(sleep, { ms: 3_000, value: "slow" }, { timeout: 20_000 });
    expect(await codeOf(pool.call(echo, "late", { timeout: 300 }))).toBe("TIMEOUT");
    expect(await busy).toBe("slow");
  });

  it("cold pool: a call whose timeout is shorter than the boot still runs (bounded by bootTimeout)", async () => {
    // Every runner takes ≥ 1.5 s to start, far more than the call's 500 ms timeout.
    const slowStart = "data:text/javascript,await new Promise((r) => setTimeout(r, 1500));";
    const pool = localPool({
      bootTimeout: 20_000,
      backend: new LocalBackend({ entry: fixtureEntry, execArgv: ["--import", slowStart] }),
    });
    const startedAt = performance.now();
    expect(await pool.call(sleep, { ms: 1, value: "cold ok" }, { timeout: 500 })).toBe("cold ok");
    expect(performance.now() - startedAt).toBeGreaterThan(1_500);
    // Warm now: the same timeout bounds the run.
    expect(await codeOf(pool.call(sleep, { ms: 5_000, value: "x" }, { timeout: 500 }))).toBe(
      "TIMEOUT",
    );
  });

  it("cold pool: the wait for a boot is bounded by bootTimeout", async () => {
    const neverStarts = "data:text/javascript,await new Promise(() => setInterval(() => {}, 1e6));";
    const pool = localPool({
      bootTimeout: 1_000,
      backend: new LocalBackend({ entry: fixtureEntry, execArgv: ["--import", neverStarts] }),
    });
    expect(await codeOf(pool.call(echo, 1, { timeout: 200 }))).toBe("TIMEOUT");
  });

  it("an AbortSignal aborts a running call (ABORTED) and the function sees ctx.signal", async () => {
    const pool = localPool();
    await pool.call(echo, "warm");
    const controller = new AbortController();
    const running = pool.call(waitForAbort, { tag: "caller" }, { signal: controller.signal });
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 1, {
        timeout: 10_000,
        message: "the call to start",
      })
      .toBe(true);
    controller.abort();
    expect(await codeOf(running)).toBe("ABORTED");
    await expect
      .poll(async () => ((await pool.call(seenAborts, null)) as string[]).includes("caller"), {
        timeout: 10_000,
        message: "the runner to see the abort",
      })
      .toBe(true);
  });

  it("SIGKILL of a runner mid-call → RUNNER_DOWN fast; the next call succeeds", async () => {
    const pool = localPool({ max: 1 });
    const { pid } = (await pool.call(whoami, null)) as { pid: number };
    const running = codeOf(pool.call(sleep, { ms: 60_000, value: 1 }, { timeout: 60_000 }));
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 1, {
        timeout: 10_000,
        message: "the call to start",
      })
      .toBe(true);
    const killedAt = performance.now();
    process.kill(pid, "SIGKILL");
    expect(await running).toBe("RUNNER_DOWN");
    const detectMs = performance.now() - killedAt;
    console.log(
      `[measure] SIGKILL of a runner → caller got RUNNER_DOWN in ${detectMs.toFixed(1)} ms`,
    );
    const next = (await pool.call(whoami, null)) as { pid: number };
    expect(next.pid).not.toBe(pid);
  });

  it("process.exit() in a function ends only its thread: REMOTE_ERROR, the runner serves on", async () => {
    const pool = localPool({ max: 1 });
    await pool.start();
    const error = await pool.call(crash, null).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "REMOTE_ERROR", remote: { name: "ThreadExited" } });
    expect((error as Error).message).toContain("exited with code 9");
    const runners = pool.snapshot().runners.map((r) => r.id);
    expect(await pool.call(add, { a: 3, b: 4 })).toBe(7);
    expect(pool.snapshot().runners.map((r) => r.id)).toEqual(runners);
  });

  it("inline mode: 200 calls queued while the runner boots are all answered", async () => {
    // They reach the runner in one burst right after its welcome, before its session exists.
    const pool = localPool({ max: 1, execution: { mode: "inline" }, timeout: 20_000 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.call(add, { a: i, b: 1 })),
    );
    expect(results.every((value, i) => value === i + 1)).toBe(true);
  });

  it("inline mode: a function that exits its process fails the call with RUNNER_DOWN", async () => {
    const pool = localPool({ max: 1, execution: { mode: "inline" } });
    expect(await codeOf(pool.call(crash, null))).toBe("RUNNER_DOWN");
    expect(await pool.call(add, { a: 3, b: 4 })).toBe(7);
  });

  it("unknown function, unserialisable argument/result, oversize frame: a clear error, nothing else lost", async () => {
    const pool = localPool({ maxFrameBytes: 64 * 1024 });
    const alongside = pool.call(sleep, { ms: 1_500, value: "survivor" });
    expect(await codeOf(pool.call(onlyInParent, null))).toBe("UNKNOWN_FUNCTION");
    expect(await codeOf(pool.call(echo, { f: () => 1 }))).toBe("SERIALIZATION");
    expect(await codeOf(pool.call(unserialisable, null))).toBe("SERIALIZATION");
    expect(await codeOf(pool.call(echo, "x".repeat(200 * 1024)))).toBe("SERIALIZATION");
    expect(await alongside).toBe("survivor");
    expect(await pool.call(echo, "still fine")).toBe("still fine");
  });

  it("placeChild runs until stopped and holds its slot meanwhile", async () => {
    const pool = localPool({ max: 1, maxConcurrency: 2 });
    const child = await pool.placeChild(waitForAbort, { tag: "child" });
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 1, {
        timeout: 10_000,
        message: "the child to hold a slot",
      })
      .toBe(true);
    await child.stop();
    expect(await codeOf(child.result)).toMatch(/ok|ABORTED/);
    await expect
      .poll(() => pool.snapshot().runners[0]?.inflight === 0, {
        timeout: 10_000,
        message: "the slot to free",
      })
      .toBe(true);
  });

  it("a pool created inside a runner forces min to 0", async () => {
    const pool = localPool();
    const { nestedPoolMin } = await import("../fixtures/functions.mjs");
    expect(await pool.call(nestedPoolMin, null)).toBe(0);
  });

  it.skipIf(!hasOpenssl)(
    "listen.tls: runners dial wss:// and pin the pool's certificate",
    async () => {
      const tls = selfSignedCert();
      const backend = new LocalBackend({ entry: fixtureEntry });
      const seen: string[] = [];
      const pool = localPool({
        listen: { tls },
        backend: {
          name: "local",
          boot: (req) => {
            seen.push(req.env.FLAME_PARENT ?? "");
            return backend.boot(req);
          },
        },
      });
      const { echo } = await import("../fixtures/functions.mjs");
      expect(await pool.call(echo, "over tls")).toBe("over tls");
      const descriptor = JSON.parse(Buffer.from(seen[0] ?? "", "base64url").toString("utf8"));
      expect(descriptor.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      expect(descriptor.tlsCertSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    },
  );

  it("function code on a runner cannot read FLAME_PARENT (its token); it sees FLAME_RUNNER=1", async () => {
    const pool = localPool();
    const { runnerEnv, whoami } = await import("../fixtures/functions.mjs");
    expect(await pool.call(runnerEnv, null)).toEqual({ parent: null, runner: "1" });
    expect((await pool.call(whoami, null)).insideRunner).toBe(true);
  });
});
