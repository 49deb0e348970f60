/**
 * The raw baseline: a `ws` server in this process and one plain-node peer process per link
 * (fixtures/raw-peer.mjs) that dials it, exactly the direction a flame runner dials its
 * parent. Frames are bare `node:v8` encodings of `{ id, fn, args }` / `{ id, ok, value }`:
 * what a hand-written RPC over the same transport costs, with nothing of the pool's.
 * A peer may also dial once per worker thread (`linkPerThread`): each thread serves its own
 * link, and calls go to the link with the fewest in flight.
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

/** A link to the peer and the calls sent on it that have not been answered yet. */
interface Link {
  readonly socket: WebSocket;
  inFlight: number;
}

/** One connected peer process; `call` is the baseline's round trip. */
export class RawPeer {
  readonly pid: number;
  readonly #links: Link[];
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(child: ChildProcess, sockets: readonly WebSocket[]) {
    this.#child = child;
    this.pid = child.pid!;
    this.#links = sockets.map((socket) => ({ socket, inFlight: 0 }));
    for (const link of this.#links) {
      link.socket.on("message", (data: Buffer) => {
        link.inFlight -= 1;
        const reply = deserialize(data) as { id: number; value: unknown };
        const pending = this.#pending.get(reply.id);
        if (!pending) return;
        this.#pending.delete(reply.id);
        pending.resolve(reply.value);
      });
      link.socket.on("close", () => {
        for (const pending of this.#pending.values()) pending.reject(new Error("raw peer closed"));
        this.#pending.clear();
      });
    }
  }

  /** Links to the peer: 1, or one per thread (`linkPerThread`). */
  get links(): number {
    return this.#links.length;
  }

  call(fn: string, args: unknown): Promise<unknown> {
    const id = this.#nextId++;
    let link = this.#links[0] as Link;
    for (const other of this.#links) if (other.inFlight < link.inFlight) link = other;
    link.inFlight += 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      link.socket.send(serialize({ id, fn, args }));
    });
  }

  /** Closes the links; the peer exits on its own (writing its --cpu-prof profile), or is killed. */
  async close(): Promise<void> {
    for (const { socket } of this.#links) socket.close();
    await awaitExitOrKill(this.#child, 5_000);
  }
}

export interface SpawnPeerOptions {
  readonly execArgv?: readonly string[];
  /** Added to this process's environment for the peer. */
  readonly env?: Readonly<Record<string, string>>;
  /** Worker threads that run the peer's functions; 0 (default): its main thread. */
  readonly threads?: number;
  /** A module each thread loads before its first call (an app's functions module). */
  readonly entry?: string;
  /**
   * Each worker thread dials this server itself and answers its own link's calls, so the
   * peer's main thread is on no call's path (needs `threads` ≥ 1).
   */
  readonly linkPerThread?: boolean;
  readonly timeoutMs?: number;
}

export class RawEchoServer {
  readonly url: string;
  readonly #server: WebSocketServer;
  /** By peer pid: a socket that said hello from it (a peer with a link per thread says it N times). */
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
   * `execArgv` goes to its node (e.g. `--cpu-prof` for the profile script), `env` to its
   * environment.
   */
  async spawnPeer(options: SpawnPeerOptions = {}): Promise<RawPeer> {
    const { execArgv = [], threads = 0, entry, timeoutMs = 15_000 } = options;
    const linkPerThread = options.linkPerThread === true;
    if (linkPerThread && threads < 1) {
      throw new Error(
        "spawnPeer: linkPerThread needs threads ≥ 1 (each thread dials its own link)",
      );
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      RAW_PEER_URL: this.url,
      RAW_PEER_THREADS: String(threads),
    };
    if (entry !== undefined) env.RAW_PEER_ENTRY = entry;
    if (linkPerThread) env.RAW_PEER_LINK_PER_THREAD = "1";
    const child = spawn(process.execPath, [...execArgv, peerScript], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${peerScript}`);
    const links = linkPerThread ? threads : 1;
    const connected = new Promise<WebSocket[]>((resolve) => {
      const sockets: WebSocket[] = [];
      this.#waiting.set(pid, (socket) => {
        sockets.push(socket);
        if (sockets.length === links) resolve(sockets);
      });
    });
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
      const sockets = await Promise.race([connected, timedOut, exited]);
      return new RawPeer(child, sockets);
    } catch (error) {
      await killAndWait(child, 5_000);
      throw error;
    } finally {
      this.#waiting.delete(pid);
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const client of this.#server.clients) client.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
