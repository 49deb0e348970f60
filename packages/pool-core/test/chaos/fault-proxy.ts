/**
 * A fault-injecting TCP proxy for the chaos soak: runners dial it (the pool's
 * `listen.advertiseUrl`), it forwards each connection to the pool's real listener, and a test
 * can break any one connection the way a network does:
 *
 * - `delay(ms)`: hold every byte in both directions for `ms`, then deliver them in order
 *   (a congested or briefly partitioned link; nothing is lost);
 * - `blackhole()`: drop every byte from now on, silently, keeping both sockets open (a peer
 *   that vanished without a FIN: only the heartbeat can notice);
 * - `reset()`: destroy both sockets at once (a RST, a crashed NAT entry).
 *
 * It works on raw bytes (no WebSocket parsing), so the pool and the runner see exactly what a
 * real network would give them. No library in the registry lists fits this small need
 * (toxiproxy is a separate Go server), hence node:net.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** One proxied connection: runner side (`downstream`) ↔ parent side (`upstream`). */
export class ProxiedLink {
  readonly id: number;
  readonly #down: Socket;
  readonly #up: Socket;
  #heldUntilMs = 0;
  #blackholed = false;
  #closed = false;
  /** Bytes held by a delay, per direction, delivered in order when the hold ends. */
  readonly #held = { toUp: [] as Buffer[], toDown: [] as Buffer[] };
  #flushTimer: NodeJS.Timeout | null = null;

  constructor(id: number, down: Socket, up: Socket, onClose: () => void) {
    this.id = id;
    this.#down = down;
    this.#up = up;
    down.on("data", (chunk: Buffer) => this.#forward(chunk, "toUp"));
    up.on("data", (chunk: Buffer) => this.#forward(chunk, "toDown"));
    const close = () => {
      if (this.#closed) return;
      this.#closed = true;
      if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
      down.destroy();
      up.destroy();
      onClose();
    };
    // A close on either side closes the other: a blackhole drops bytes, not the TCP state
    // of a peer that is really gone (its process exited), which the kernel would report.
    for (const socket of [down, up]) {
      socket.on("close", close);
      socket.on("error", close);
      socket.on("end", close);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  delay(ms: number): void {
    this.#heldUntilMs = Math.max(this.#heldUntilMs, performance.now() + ms);
    this.#armFlush();
  }

  blackhole(): void {
    this.#blackholed = true;
    this.#held.toUp.length = 0;
    this.#held.toDown.length = 0;
  }

  reset(): void {
    this.#down.resetAndDestroy();
    this.#up.resetAndDestroy();
  }

  #forward(chunk: Buffer, direction: "toUp" | "toDown"): void {
    if (this.#blackholed || this.#closed) return;
    const queue = this.#held[direction];
    if (queue.length > 0 || performance.now() < this.#heldUntilMs) {
      queue.push(chunk);
      this.#armFlush();
      return;
    }
    (direction === "toUp" ? this.#up : this.#down).write(chunk);
  }

  #armFlush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    const waitMs = Math.max(0, this.#heldUntilMs - performance.now());
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null;
      if (performance.now() < this.#heldUntilMs) return this.#armFlush();
      if (this.#blackholed || this.#closed) return;
      for (const chunk of this.#held.toUp.splice(0)) this.#up.write(chunk);
      for (const chunk of this.#held.toDown.splice(0)) this.#down.write(chunk);
    }, waitMs);
  }
}

export class FaultProxy {
  readonly #server: Server;
  readonly #links = new Map<number, ProxiedLink>();
  #nextId = 1;
  #accepted = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on 127.0.0.1 (a free port) and forwards every connection to `targetPort`. */
  static async start(targetPort: number): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server);
    server.on("connection", (down) => proxy.#accept(down, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("proxy not listening");
    return address.port;
  }

  /** Connections open right now. */
  links(): ProxiedLink[] {
    return [...this.#links.values()].filter((link) => !link.closed);
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  async close(): Promise<void> {
    for (const link of this.#links.values()) link.reset();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(down: Socket, targetPort: number): void {
    this.#accepted += 1;
    const id = this.#nextId++;
    down.pause();
    const up = connect({ host: "127.0.0.1", port: targetPort });
    const link = new ProxiedLink(id, down, up, () => this.#links.delete(id));
    this.#links.set(id, link);
    up.once("connect", () => down.resume());
  }
}

/** A port nobody listens on right now (the OS picks it); the pool then listens there. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
