/**
 * One suite, every backend: what a Pool needs from a Backend, checked with real runners.
 * A backend's test file calls `describeBackendConformance("docker", () => new DockerBackend(…),
 * { killRunner })`; its runners must load `conformanceEntry` (this package's
 * `src/testing/conformance-functions.mjs`).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, BootedRunner, BootRequest } from "../backend.js";
import { FlameError, isFlameError } from "../errors.js";
import { newRunnerId, parentId } from "../host/ids.js";
import { Pool } from "../host/pool.js";
import { RunnerServer } from "../link/index.js";
import type { PoolOptions } from "../options/index.js";
import {
  DEFAULT_EXECUTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
} from "../protocol/defaults.js";
import { encodeParentDescriptor } from "../protocol/descriptor.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import { generateToken } from "../protocol/token.js";

/**
 * The functions module runners must load. Resolves from both src/testing/ and dist/testing/
 * (the package ships src/), so the same file works under vitest and plain node.
 */
export const conformanceEntry: URL = new URL(
  "../../src/testing/conformance-functions.mjs",
  import.meta.url,
);

export interface ConformanceOptions {
  /** Kill the runner abruptly (SIGKILL the process, kill the container/machine). */
  readonly killRunner: (meta: Readonly<Record<string, string>>) => void | Promise<void>;
  /** Extra pool options (e.g. `listen.advertiseUrl` for runners outside this host). */
  readonly poolOptions?: Partial<PoolOptions>;
  /** Bound for a normal boot; default 30,000 ms. */
  readonly bootTimeoutMs?: number;
  /** A boot timeout too short for any runner to say hello; default 50 ms. */
  readonly impossibleBootTimeoutMs?: number;
  /** Failsafe given to runners in the link-lost test; default 2,000 ms. */
  readonly failsafeTimeoutMs?: number;
}

type Fixtures = typeof import("./conformance-functions.mjs");

/** Records every runner a backend started, to prove none is left behind. */
class RecordingBackend implements Backend {
  readonly name: string;
  readonly booted: BootedRunner[] = [];
  readonly #inner: Backend;
  constructor(inner: Backend) {
    this.#inner = inner;
    this.name = inner.name;
  }
  async boot(req: BootRequest): Promise<BootedRunner> {
    const runner = await this.#inner.boot(req);
    this.booted.push(runner);
    return runner;
  }
  listenHost(): Promise<string | null> {
    return this.#inner.listenHost?.() ?? Promise.resolve(null);
  }
}

/** Resolves true once `promise` settles, false if `ms` passes first. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const result = await Promise.race([promise.then(() => true as const), late]);
  clearTimeout(timer);
  return result;
}

export function describeBackendConformance(
  name: string,
  makeBackend: () => Backend | Promise<Backend>,
  options: ConformanceOptions,
): void {
  const bootTimeout = options.bootTimeoutMs ?? 30_000;
  const failsafeTimeout = options.failsafeTimeoutMs ?? 2_000;
  const testTimeout = bootTimeout * 2 + 30_000;

  describe(`backend conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function fixtures(): Promise<Fixtures> {
      return (await import(conformanceEntry.href)) as Fixtures;
    }

    async function makePool(extra: Partial<PoolOptions> = {}) {
      const backend = new RecordingBackend(await makeBackend());
      const pool = new Pool({
        name: "conformance",
        max: 2,
        backend,
        bootTimeout,
        shutdownTimeout: 5_000,
        failsafeTimeout,
        ...options.poolOptions,
        ...extra,
      });
      cleanups.push(async () => {
        await pool.stop();
        await Promise.all(backend.booted.map((r) => r.stop()));
      });
      return { pool, backend };
    }

    it(
      "boots a runner on demand and runs a call on it",
      async () => {
        const { echo, runnerInfo } = await fixtures();
        const { pool, backend } = await makePool();
        const value = { at: new Date(0), tags: new Set(["a"]), big: 2n ** 70n };
        expect(await pool.call(echo, value)).toEqual(value);
        const info = await pool.call(runnerInfo, null);
        expect(info.runnerId).toMatch(/^conformance-[0-9a-f]+$/);
        expect(backend.booted).toHaveLength(1);
        const snap = pool.snapshot();
        expect(snap.runners).toHaveLength(1);
        expect(snap.runners[0]?.id).toBe(info.runnerId);
        expect(Object.keys(snap.runners[0]?.meta ?? {}).length).toBeGreaterThan(0);
      },
      testTimeout,
    );

    it(
      "a runner killed mid-call fails the call with RUNNER_DOWN; the next call succeeds",
      async () => {
        const { hold, echo } = await fixtures();
        const { pool } = await makePool({ max: 1 });
        await pool.call(echo, "warm up");
        const meta = pool.snapshot().runners[0]?.meta ?? {};
        const held = pool.call(hold, null, { timeout: 60_000 });
        const settled = held.then(
          () => "resolved",
          (e: unknown) => (isFlameError(e) ? e.code : String(e)),
        );
        await options.killRunner(meta);
        expect(await settled).toBe("RUNNER_DOWN");
        expect(await pool.call(echo, "after")).toBe("after");
      },
      testTimeout,
    );

    it(
      "a tracked resource stays on its runner: pinned calls reach the live value; release disposes it there",
      async () => {
        const { openPair, use, disposedNames } = await fixtures();
        const { pool } = await makePool({ max: 2, idleShutdownAfter: 500 });
        const { a, b } = await pool.call(openPair, { name: "model" });
        expect(a.runnerId).toBe(b.runnerId);
        expect(await pool.call(use, null, { on: a })).toMatchObject({ uses: 1 });
        // The same object on the same runner, not a copy: the count goes on.
        expect(await pool.call(use, null, { on: a })).toEqual({
          name: "model.a",
          uses: 2,
          runnerId: a.runnerId,
        });
        // ctx.resource is the value of the handle the call is pinned to.
        expect(await pool.call(use, null, { on: b })).toMatchObject({ name: "model.b", uses: 1 });
        // Held past its idle timeout: the runner that holds them is still there.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const holder = pool.snapshot().runners.find((r) => r.id === a.runnerId);
        expect(holder).toMatchObject({ tracked: 1 });
        await a.release();
        expect(a.released).toBe(true);
        expect(await pool.call(disposedNames, { handle: b }, { on: b })).toEqual(["model.a"]);
        const gone = await pool.call(use, null, { on: a }).catch((e: unknown) => e);
        expect(isFlameError(gone, "RESOURCE_GONE")).toBe(true);
        await b.release();
        // Nothing holds it now: it idles out like any runner.
        await expect
          .poll(() => pool.snapshot().runners.some((r) => r.id === a.runnerId), {
            timeout: bootTimeout,
          })
          .toBe(false);
      },
      testTimeout,
    );

    it(
      "a runner killed while it holds a resource: calls pinned to it fail RESOURCE_GONE, never elsewhere",
      async () => {
        const { openOne, use, echo } = await fixtures();
        const { pool } = await makePool({ max: 2 });
        // The handle is the whole result here.
        const a = await pool.call(openOne, { name: "doomed" });
        expect(await pool.call(use, null, { on: a })).toMatchObject({ name: "doomed", uses: 1 });
        const meta = pool.snapshot().runners.find((r) => r.id === a.runnerId)?.meta ?? {};
        await options.killRunner(meta);
        await expect.poll(() => a.released, { timeout: bootTimeout }).toBe(true);
        const gone = await pool.call(use, null, { on: a }).catch((e: unknown) => e);
        expect(isFlameError(gone, "RESOURCE_GONE")).toBe(true);
        expect(await pool.call(echo, "after")).toBe("after");
      },
      testTimeout,
    );

    it(
      "stop() leaves no runner behind",
      async () => {
        const { echo } = await fixtures();
        const { pool, backend } = await makePool({ min: 1, max: 2, maxConcurrency: 1 });
        await pool.start();
        await Promise.all([pool.call(echo, 1), pool.call(echo, 2), pool.call(echo, 3)]);
        await pool.stop();
        expect(backend.booted.length).toBeGreaterThanOrEqual(1);
        for (const runner of backend.booted) {
          expect(await settlesWithin(runner.exited, 1_000)).toBe(true);
        }
        expect(pool.snapshot().runners).toEqual([]);
      },
      testTimeout,
    );

    it(
      "a boot that cannot say hello within bootTimeout fails with BOOT_FAILED",
      async () => {
        const { pool, backend } = await makePool({
          min: 1,
          bootTimeout: options.impossibleBootTimeoutMs ?? 50,
        });
        const error = await pool.start().then(
          () => null,
          (e: unknown) => e,
        );
        expect(isFlameError(error, "BOOT_FAILED")).toBe(true);
        expect((error as FlameError).message).toMatch(/bootTimeout|boot/i);
        await pool.stop();
        for (const runner of backend.booted) {
          expect(await settlesWithin(runner.exited, 10_000)).toBe(true);
        }
      },
      testTimeout,
    );

    it(
      "failsafe: a runner whose parent link is lost exits",
      async () => {
        const backend = await makeBackend();
        const server = await RunnerServer.listen({
          // Where the pool itself would listen (Backend.listenHost, e.g. Docker's bridge gateway).
          host: options.poolOptions?.listen?.host ?? (await backend.listenHost?.()) ?? "127.0.0.1",
          port: 0,
          ...(options.poolOptions?.listen?.advertiseUrl === undefined
            ? {}
            : { advertiseUrl: options.poolOptions.listen.advertiseUrl }),
        });
        cleanups.push(() => server.close());
        const runnerId = newRunnerId("conformance");
        const token = generateToken();
        const controller = new AbortController();
        const bootTimer = setTimeout(
          () => controller.abort(new FlameError("BOOT_FAILED", "no hello")),
          bootTimeout,
        );
        const env = {
          FLAME_PARENT: encodeParentDescriptor({
            url: server.url,
            token,
            runnerId,
            pool: "conformance",
            protocol: PROTOCOL_VERSION,
            idleShutdownAfterMs: null,
            singleUse: false,
            failsafeTimeoutMs: failsafeTimeout,
            shutdownTimeoutMs: 5_000,
            maxFrameBytes: 64 * 1024 * 1024,
            heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
            heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
            maxConcurrency: 1,
            execution: DEFAULT_EXECUTION,
          }),
        };
        const hello = server.expect(runnerId, token, controller.signal);
        const runner = await backend.boot({
          runnerId,
          poolName: "conformance",
          parentId,
          env,
          signal: controller.signal,
          deadlineMs: Date.now() + bootTimeout,
        });
        cleanups.push(() => runner.stop());
        await hello;
        clearTimeout(bootTimer);
        // The parent vanishes: close every link without asking the runner to shut down.
        await server.close();
        expect(await settlesWithin(runner.exited, failsafeTimeout + 10_000)).toBe(true);
      },
      testTimeout,
    );
  });
}
