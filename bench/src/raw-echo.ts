/**
 * The raw baseline: a `ws` server in this process and one plain-node peer process per link
 * (fixtures/raw-peer.mjs) that dials it, exactly the direction a flame runner dials its
 * parent. Frames are bare `node:v8` encodings of `{ id, fn, args }` / `{ id, ok, value }`:
 * what a hand-written RPC over the same transport costs, with nothing of the pool's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { deserialize, serialize } from "node:v8";
import { type WebSocket, WebSocketServer } from "ws";
import { awaitExitOrKill, exitOf, killAndWait } from "./processes.js";

const peerScript = fileURLToPath(new URL("../fixtures/raw-peer.mjs", import.meta.url));

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One connected peer process; `call` is the baseline's round trip. */
export class RawPeer {
  readonly pid: number;
  readonly #socket: WebSocket;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(child: ChildProcess, socket: WebSocket) {
    this.#child = child;
    this.#socket = socket;
    this.pid = child.pid!;
    socket.on("message", (data: Buffer) => {
      const reply = deserialize(data) as { id: number; value: unknown };
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      pending.resolve(reply.value);
    });
    socket.on("close", () => {
      for (const pending of this.#pending.values()) pending.reject(new Error("raw peer closed"));
      this.#pending.clear();
    });
  }

  call(fn: string, args: unknown): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(serialize({ id, fn, args }));
    });
  }

  /** Closes the link; the peer exits on its own (writing its --cpu-prof profile), or is killed. */
  async close(): Promise<void> {
    this.#socket.close();
    await awaitExitOrKill(this.#child, 5_000);
  }
}

export interface SpawnPeerOptions {
  readonly execArgv?: readonly string[];
  /** Worker threads that run the peer's functions; 0 (default): its main thread. */
  readonly threads?: number;
  /** A module each thread loads before its first call (an app's functions module). */
  readonly entry?: string;
  readonly timeoutMs?: number;
}

export class RawEchoServer {
  readonly url: string;
  readonly #server: WebSocketServer;
  readonly #waiting = new Map<number, (socket: WebSocket) => void>();

  private constructor(server: WebSocketServer) {
    this.#server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `ws://127.0.0.1:${port}`;
    server.on("connection", (socket) => {
      socket.binaryType = "nodebuffer";
      socket.once("message", (data: Buffer) => {
        const { hello } = deserialize(data) as { hello: number };
        this.#waiting.get(hello)?.(socket);
        this.#waiting.delete(hello);
      });
    });
  }

  static async listen(): Promise<RawEchoServer> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(server, "listening");
    return new RawEchoServer(server);
  }

  /**
   * Starts a peer process and resolves once it has said hello (its link is ready).
   * `threads` > 0 runs its functions on that many worker threads (fixtures/raw-peer.mjs);
   * `execArgv` goes to its node (e.g. `--cpu-prof` for the profile script).
   */
  async spawnPeer(options: SpawnPeerOptions = {}): Promise<RawPeer> {
    const { execArgv = [], threads = 0, entry, timeoutMs = 15_000 } = options;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RAW_PEER_URL: this.url,
      RAW_PEER_THREADS: String(threads),
    };
    if (entry !== undefined) env.RAW_PEER_ENTRY = entry;
    const child = spawn(process.execPath, [...execArgv, peerScript], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${peerScript}`);
    const connected = new Promise<WebSocket>((resolve) => this.#waiting.set(pid, resolve));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`raw peer did not connect within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const exited = exitOf(child).then((exit) => {
      throw new Error(`raw peer exited before connecting (code ${exit.code})`);
    });
    try {
      const socket = await Promise.race([connected, timedOut, exited]);
      return new RawPeer(child, socket);
    } catch (error) {
      this.#waiting.delete(pid);
      await killAndWait(child, 5_000);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
