/**
 * The parent's listener: runners dial it, say hello with their per-runner token, and become
 * RunnerConnections handed to whoever `expect`ed them. Anything other than a valid hello as
 * the first frame closes the socket; a wrong token is logged as UNAUTHORIZED and the
 * expectation keeps waiting for the right runner.
 */
import type { IncomingMessage } from "node:http";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { FlameError, invalidOption } from "../errors.js";
import { type Codec, v8Codec } from "../protocol/codec.js";
import {
  CLOSE_PROTOCOL,
  CLOSE_UNAUTHORIZED,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  wsMaxPayloadFor,
} from "../protocol/defaults.js";
import { decodeFrame } from "../protocol/frame.js";
import { PROTOCOL_VERSION, type RunnerToParent } from "../protocol/messages.js";
import { tokensEqual } from "../protocol/token.js";
import { type LinkLog, silentLog } from "./log.js";
import { RunnerConnection } from "./runner-connection.js";

export interface RunnerServerOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** URL runners dial when it differs from ws://host:port (e.g. a Fly 6PN address). */
  readonly advertiseUrl?: string;
  /** Largest frame sent or accepted. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  readonly codec?: Codec;
  /** Ping period. Default 1,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A runner silent this long (no frame, no pong) is dropped. Default 10,000 ms. */
  readonly heartbeatTimeoutMs?: number;
  /** A socket must say hello within this. Default 10,000 ms. */
  readonly helloTimeoutMs?: number;
  /** Parent-side backstop after a call's deadline if the runner never reports TIMEOUT. Default 1,000 ms. */
  readonly deadlineGraceMs?: number;
  readonly log?: LinkLog;
}

interface Expectation {
  readonly token: string;
  readonly resolve: (conn: RunnerConnection) => void;
  readonly reject: (err: FlameError) => void;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

type Hello = Extract<RunnerToParent, { t: "hello" }>;

export class RunnerServer {
  readonly url: string;
  private readonly expectations = new Map<string, Expectation>();
  private readonly connections = new Set<RunnerConnection>();
  private readonly handshaking = new Set<WebSocket>();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly wss: WebSocketServer,
    url: string,
    private readonly settings: Required<
      Omit<RunnerServerOptions, "advertiseUrl" | "host" | "port">
    >,
  ) {
    this.url = url;
    wss.on("connection", (ws, req) => this.onConnection(ws, req));
  }

  static async listen(options: RunnerServerOptions = {}): Promise<RunnerServer> {
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? 0;
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw invalidOption("listen.port", "an integer from 0 to 65535", port);
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024)
      throw invalidOption("maxFrameBytes", "an integer ≥ 1024", maxFrameBytes);
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (!(heartbeatIntervalMs > 0))
      throw invalidOption("heartbeatIntervalMs", "a positive number", heartbeatIntervalMs);
    const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    if (!(heartbeatTimeoutMs > heartbeatIntervalMs))
      throw invalidOption(
        "heartbeatTimeoutMs",
        "a number of ms greater than heartbeatIntervalMs",
        heartbeatTimeoutMs,
      );
    const wss = new WebSocketServer({
      host,
      port,
      maxPayload: wsMaxPayloadFor(maxFrameBytes),
      perMessageDeflate: false,
      clientTracking: false,
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", (err) =>
        reject(
          new FlameError(
            "INVALID_OPTIONS",
            `Could not listen for runners on ${host}:${port}: ${err.message}. Pick another listen.host/listen.port.`,
            { field: "listen", cause: err },
          ),
        ),
      );
    });
    const address = wss.address();
    const boundPort = typeof address === "object" && address !== null ? address.port : port;
    const url =
      options.advertiseUrl ?? `ws://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
    return new RunnerServer(wss, url, {
      maxFrameBytes,
      codec: options.codec ?? v8Codec,
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
      deadlineGraceMs: options.deadlineGraceMs ?? 1_000,
      log: options.log ?? silentLog,
    });
  }

  /**
   * Resolves with the connection once `runnerId` says hello with `token`. Rejects when
   * `signal` aborts (with the signal's FlameError reason, BOOT_FAILED for a timeout, else
   * ABORTED) or the server closes.
   */
  expect(runnerId: string, token: string, signal: AbortSignal): Promise<RunnerConnection> {
    return new Promise((resolve, reject) => {
      if (this.closing !== null) {
        return reject(new FlameError("BOOT_FAILED", "The runner server is closed."));
      }
      if (signal.aborted) return reject(abortError(runnerId, signal));
      if (this.expectations.has(runnerId)) {
        return reject(
          new FlameError("INVALID_OPTIONS", `Runner ${runnerId} is already expected.`, {
            field: "runnerId",
          }),
        );
      }
      const onAbort = (): void => {
        if (this.expectations.get(runnerId)?.signal !== signal) return;
        this.expectations.delete(runnerId);
        reject(abortError(runnerId, signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.expectations.set(runnerId, { token, resolve, reject, signal, onAbort });
    });
  }

  /** Closes the listener and every connection; pending expectations reject. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    for (const [runnerId, exp] of this.expectations) {
      exp.signal.removeEventListener("abort", exp.onAbort);
      exp.reject(
        new FlameError("BOOT_FAILED", `The runner server closed before ${runnerId} said hello.`),
      );
    }
    this.expectations.clear();
    for (const ws of this.handshaking) ws.terminate();
    this.handshaking.clear();
    for (const conn of this.connections) conn.terminate("parent closed the runner server");
    this.connections.clear();
    this.closing = new Promise((resolve) => this.wss.close(() => resolve()));
    return this.closing;
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
    if (this.closing !== null) {
      ws.terminate();
      return;
    }
    this.handshaking.add(ws);
    const timer = setTimeout(
      () => this.refuse(ws, CLOSE_PROTOCOL, "no hello in time", remote),
      this.settings.helloTimeoutMs,
    );
    timer.unref();
    ws.on("error", (err) => {
      this.settings.log("debug", "runner socket error", { remote, error: err.message });
    });
    ws.once("close", () => {
      clearTimeout(timer);
      this.handshaking.delete(ws);
    });
    ws.once("message", (data: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      this.handshaking.delete(ws);
      this.onFirstFrame(ws, data, isBinary, remote);
    });
  }

  private onFirstFrame(ws: WebSocket, data: RawData, isBinary: boolean, remote: string): void {
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.refuse(ws, CLOSE_PROTOCOL, "first frame must be a binary hello", remote);
      return;
    }
    const decoded = decodeFrame(data, this.settings.codec, this.settings.maxFrameBytes);
    if (!decoded.ok) {
      this.refuse(ws, CLOSE_PROTOCOL, `bad hello: ${decoded.message}`, remote);
      return;
    }
    if (decoded.msg.t !== "hello") {
      this.refuse(ws, CLOSE_PROTOCOL, `expected hello, got ${decoded.msg.t}`, remote);
      return;
    }
    const hello = decoded.msg as Hello;
    const exp = this.expectations.get(hello.runnerId);
    if (exp === undefined || !tokensEqual(hello.token, exp.token)) {
      this.settings.log("warn", "UNAUTHORIZED: runner hello refused", {
        code: "UNAUTHORIZED",
        runnerId: hello.runnerId,
        remote,
        why: exp === undefined ? "runner not expected" : "wrong token",
      });
      ws.close(CLOSE_UNAUTHORIZED, "unauthorized");
      return;
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      const why = `runner speaks protocol ${hello.protocol}, parent speaks ${PROTOCOL_VERSION}`;
      this.refuse(ws, CLOSE_PROTOCOL, why, remote);
      this.expectations.delete(hello.runnerId);
      exp.signal.removeEventListener("abort", exp.onAbort);
      exp.reject(
        new FlameError(
          "BOOT_FAILED",
          `Runner ${hello.runnerId}: ${why}. Run the same flame-ts version on both sides.`,
        ),
      );
      return;
    }
    this.expectations.delete(hello.runnerId);
    exp.signal.removeEventListener("abort", exp.onAbort);
    const conn = new RunnerConnection(ws, hello, {
      codec: this.settings.codec,
      maxFrameBytes: this.settings.maxFrameBytes,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.settings.heartbeatTimeoutMs,
      deadlineGraceMs: this.settings.deadlineGraceMs,
      log: this.settings.log,
    });
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    conn.sendMessage({ t: "welcome", runnerId: hello.runnerId });
    exp.resolve(conn);
  }

  private refuse(ws: WebSocket, code: number, reason: string, remote: string): void {
    this.settings.log("warn", `runner socket refused: ${reason}`, { remote });
    this.handshaking.delete(ws);
    // Close reasons are limited to 123 bytes.
    ws.close(code, reason.slice(0, 120));
    const killer = setTimeout(() => ws.terminate(), 1_000);
    killer.unref();
    ws.once("close", () => clearTimeout(killer));
  }
}

function abortError(runnerId: string, signal: AbortSignal): FlameError {
  const reason: unknown = signal.reason;
  if (reason instanceof FlameError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new FlameError("BOOT_FAILED", `Runner ${runnerId} did not say hello in time.`, {
      cause: reason,
      runnerId,
    });
  }
  return new FlameError("ABORTED", `Stopped waiting for runner ${runnerId} to say hello.`, {
    cause: reason,
    runnerId,
  });
}
