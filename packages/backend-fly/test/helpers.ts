import type { AddressInfo } from "node:net";
import type { BootRequest } from "@flame-ts/pool-core";
import { DEFAULT_EXECUTION } from "@flame-ts/pool-core/protocol";
import { PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { type WebSocket, WebSocketServer } from "ws";
import { FlyBackend } from "../src/fly-backend.js";
import type { FlyBackendOptions } from "../src/options.js";
import { nodeScriptImage } from "./emulator/images.js";
import { FlyEmulator, type FlyEmulatorOptions, NO_LATENCY_MS } from "./emulator/server.js";

export const TOKEN = "test-token";
export const APP = "flame-test";
export const DIAL_IMAGE = "registry.fly.io/flame-test:dial-parent";
export const DIAL_PARENT_SCRIPT = new URL("./fixtures/dial-parent.mjs", import.meta.url);

/**
 * An emulator for tests: no emulated latency (tests wait for conditions, never for time; the
 * published-latency defaults are for bench/), the dial-parent image plus `extra.images`.
 */
export function startEmulator(extra: Partial<FlyEmulatorOptions> = {}): Promise<FlyEmulator> {
  return FlyEmulator.start({
    token: TOKEN,
    app: APP,
    latencyMs: NO_LATENCY_MS,
    ...extra,
    images: { [DIAL_IMAGE]: nodeScriptImage(DIAL_PARENT_SCRIPT), ...extra.images },
  });
}

export function backendFor(emulator: FlyEmulator, options: FlyBackendOptions = {}): FlyBackend {
  return new FlyBackend({
    apiUrl: emulator.url,
    token: TOKEN,
    app: APP,
    image: DIAL_IMAGE,
    processEnv: {},
    ...options,
  });
}

export interface Hello {
  readonly runnerId: string;
  readonly token: string;
  readonly machineId: string;
  readonly env: string[];
  readonly userEnv: string | null;
}

/** A stand-in parent listener on 127.0.0.1 that the fixture image dials. */
export class TestParent {
  readonly #server: WebSocketServer;
  readonly hellos = new Map<string, { hello: Hello; socket: WebSocket }>();
  readonly #waiters = new Set<() => void>();

  private constructor(server: WebSocketServer) {
    this.#server = server;
    server.on("connection", (socket) => {
      socket.on("message", (data) => {
        const hello = JSON.parse(String(data)) as Hello;
        this.hellos.set(hello.runnerId, { hello, socket });
        for (const waiter of [...this.#waiters]) waiter();
      });
    });
  }

  static async start(): Promise<TestParent> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    return new TestParent(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  hello(runnerId: string, timeoutMs = 20_000): Promise<Hello> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const entry = this.hellos.get(runnerId);
        if (!entry) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(entry.hello);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`runner ${runnerId} did not dial the parent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Ask the fixture runner to exit with `code`. */
  tellExit(runnerId: string, code: number): void {
    this.hellos.get(runnerId)?.socket.send(JSON.stringify({ t: "exit", code }));
  }

  async close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

let seq = 0;

export function bootRequest(
  parentUrl: string,
  overrides: Partial<BootRequest> & { failsafeTimeoutMs?: number } = {},
): BootRequest {
  const runnerId = overrides.runnerId ?? `pool-${process.pid}-${++seq}`;
  const descriptor = {
    url: parentUrl,
    token: `token-${runnerId}`,
    runnerId,
    pool: overrides.poolName ?? "thumbs",
    protocol: PROTOCOL_VERSION,
    idleShutdownAfterMs: null,
    singleUse: false,
    failsafeTimeoutMs: overrides.failsafeTimeoutMs ?? 10_000,
    shutdownTimeoutMs: 5_000,
    maxFrameBytes: 1 << 20,
    heartbeatIntervalMs: 1_000,
    heartbeatTimeoutMs: 10_000,
    maxConcurrency: 1,
    execution: DEFAULT_EXECUTION,
  };
  return {
    runnerId,
    poolName: overrides.poolName ?? "thumbs",
    parentId: overrides.parentId ?? "parent-a",
    env: overrides.env ?? {
      FLAME_PARENT: Buffer.from(JSON.stringify(descriptor)).toString("base64url"),
    },
    signal: overrides.signal ?? new AbortController().signal,
    deadlineMs: overrides.deadlineMs ?? Date.now() + 30_000,
  };
}
