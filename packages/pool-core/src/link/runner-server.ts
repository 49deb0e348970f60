/**
 * The parent's listener: runners dial it and become RunnerConnections handed to whoever
 * `expect`ed them. Authentication is a challenge–response both ways before the upgrade
 * (protocol/handshake.ts, upgrade-gate.ts): a plain request gets the parent's challenge and its
 * proof; an upgrade that does not answer the challenge of its own connection with the expected
 * runner's proof, or carries an `Origin`, gets the one refusal (401), and ws never reads a
 * frame from it. After the upgrade the runner says hello (its functions), or `loading` first
 * while its entry still loads (opening.ts); anything else closes the socket. Options:
 * server-settings.ts.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { RawData, WebSocket, WebSocketServer } from "ws";
import { FlameError } from "../errors.js";
import { wsMaxPayloadFor } from "../protocol/defaults.js";
import { type ChallengeNonces, HEADER_NONCE, HEADER_RUNNER } from "../protocol/handshake.js";
import { clampTimerMs } from "../protocol/timers.js";
import { CLOSE_PROTOCOL } from "../wire/close-codes.js";
import { bootAbortError, judgeOpening } from "./opening.js";
import { RefusalLog } from "./refusal-log.js";
import { RunnerConnection } from "./runner-connection.js";
import {
  type RunnerServerOptions,
  resolveServerSettings,
  type ServerSettings,
} from "./server-settings.js";
import {
  answerAndClose,
  answerChallenge,
  HandshakeCap,
  judgeUpgrade,
  MAX_UPGRADE_HEADER_BYTES,
  REFUSED_STATUS,
  type RefusalReason,
  refusalBody,
  refuseSocket,
  sourceOf,
} from "./upgrade-gate.js";

export type { RunnerServerOptions };

interface Expectation {
  readonly token: string;
  readonly resolve: (conn: RunnerConnection) => void;
  readonly reject: (err: FlameError) => void;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

export class RunnerServer {
  readonly url: string;
  /** SHA-256 fingerprint of the TLS certificate ("AB:CD:…"), null for plain ws://. */
  readonly tlsCertSha256: string | null;
  private readonly expectations = new Map<string, Expectation>();
  private readonly connections = new Set<RunnerConnection>();
  /** Authenticated sockets that have not said hello yet, one per runner id at most. */
  private readonly handshaking = new Map<string, WebSocket>();
  /** Handshaking runners that said `loading`: the entry each is still loading. */
  private readonly loading = new Map<string, { readonly entry: string | null }>();
  /**
   * The challenge answered on each connection, until its one upgrade attempt spends it
   * ("spent": a connection gets one challenge, so a stranger cannot make it a proof oracle).
   */
  private readonly challenges = new WeakMap<Socket, ChallengeNonces | "spent">();
  /** Key of the decoy proofs answered for runner ids nobody expects (upgrade-gate.ts). */
  private readonly decoyKey = randomBytes(32);
  private readonly cap: HandshakeCap;
  private readonly refusals: RefusalLog;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    url: string,
    tlsCertSha256: string | null,
    private readonly settings: ServerSettings,
  ) {
    this.url = url;
    this.tlsCertSha256 = tlsCertSha256;
    this.refusals = new RefusalLog(settings.log);
    const limits = {
      max: settings.maxHandshakes,
      perSource: settings.maxHandshakesPerSource,
      timeoutMs: clampTimerMs(settings.upgradeTimeoutMs),
    };
    this.cap = new HandshakeCap(http, limits, (why, source) => this.refusals.record(why, source));
    http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    http.on("request", (req, res) => this.onChallenge(req, res));
    http.on("clientError", (_err, socket: Socket) => {
      this.cap.judged(socket);
      refuseSocket(socket, 400, "bad request\n");
    });
  }

  static async listen(options: RunnerServerOptions = {}): Promise<RunnerServer> {
    const { host, port, tls, tlsCertSha256, settings } = resolveServerSettings(options);
    // Loaded here, not at import: a runner's worker threads import pool-core for
    // defineFunction and never listen, and ws (~55 ms) and node:http(s) were most of what
    // that import cost (~74 ms).
    const { WebSocketServer } = await import("ws");
    const serverOptions = { maxHeaderSize: MAX_UPGRADE_HEADER_BYTES };
    const http =
      tls === undefined
        ? (await import("node:http")).createServer(serverOptions)
        : (await import("node:https")).createServer({
            ...serverOptions,
            cert: tls.cert,
            key: tls.key,
          });
    http.headersTimeout = clampTimerMs(settings.upgradeTimeoutMs);
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: wsMaxPayloadFor(settings.maxFrameBytes),
      perMessageDeflate: false,
      clientTracking: false,
    });
    await new Promise<void>((resolve, reject) => {
      http.once("listening", resolve);
      http.once("error", (err) =>
        reject(
          new FlameError(
            "INVALID_OPTIONS",
            `Could not listen for runners on ${host}:${port}: ${err.message}. Pick another listen.host/listen.port.`,
            { field: "listen", cause: err },
          ),
        ),
      );
      http.listen(port, host);
    });
    const address = http.address();
    const boundPort = typeof address === "object" && address !== null ? address.port : port;
    const scheme = tls === undefined ? "ws" : "wss";
    const url =
      options.advertiseUrl ?? `${scheme}://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
    return new RunnerServer(http, wss, url, tlsCertSha256, settings);
  }

  /** Sockets connected and not yet authenticated (bounded by `maxHandshakes`, per source too). */
  get strangers(): number {
    return this.cap.size;
  }

  /**
   * Resolves with the connection once `runnerId` authenticates with `token` and says hello.
   * Rejects when `signal` aborts (with the signal's FlameError reason, BOOT_FAILED for a
   * timeout, else ABORTED) or the server closes.
   */
  expect(runnerId: string, token: string, signal: AbortSignal): Promise<RunnerConnection> {
    return new Promise((resolve, reject) => {
      if (this.closing !== null) {
        return reject(new FlameError("BOOT_FAILED", "The runner server is closed."));
      }
      if (signal.aborted) return reject(bootAbortError(runnerId, signal, null));
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
        this.handshaking.get(runnerId)?.terminate();
        const error = bootAbortError(runnerId, signal, this.loading.get(runnerId) ?? null);
        if (this.loading.delete(runnerId)) this.settings.log("warn", error.message, { runnerId });
        reject(error);
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
    for (const ws of this.handshaking.values()) ws.terminate();
    this.handshaking.clear();
    this.cap.destroyAll();
    this.refusals.close();
    for (const conn of this.connections) conn.terminate("parent closed the runner server");
    this.connections.clear();
    this.closing = new Promise((resolve) => {
      this.wss.close();
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    return this.closing;
  }

  /**
   * Request 1: answer the runner's nonce with the parent's nonce and proof, and keep the pair
   * on this connection for its upgrade. The socket stays a stranger (capped and timed) until
   * that upgrade is judged.
   */
  private onChallenge(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    const h = req.headers;
    if (h[HEADER_RUNNER] === undefined && h[HEADER_NONCE] === undefined) {
      // A plain HTTP request (a browser, a scanner) learns nothing but "upgrade required".
      answerAndClose(res, 426, "flame-ts runner port: WebSocket runners only\n");
      return;
    }
    const verdict = this.challenges.has(socket)
      ? ({ ok: false, status: REFUSED_STATUS, why: "second challenge on one connection" } as const)
      : answerChallenge(req, (id) => this.expectations.get(id)?.token, this.decoyKey);
    if (!verdict.ok) {
      this.refuseStranger(socket, verdict.why);
      answerAndClose(res, verdict.status, refusalBody(verdict.status));
      return;
    }
    this.challenges.set(socket, verdict.nonces);
    res.writeHead(200, { ...verdict.headers, "content-length": "0" });
    res.end();
  }

  private refuseStranger(socket: Socket, why: RefusalReason): void {
    this.cap.judged(socket);
    this.refusals.record(why, sourceOf(socket));
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.on("error", () => {});
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    const challenge = this.challenges.get(socket);
    // One attempt per challenge: whatever the verdict, this connection's challenge is spent.
    this.challenges.set(socket, "spent");
    const verdict = judgeUpgrade(
      req,
      challenge === "spent" ? undefined : challenge,
      (id) => this.expectations.get(id)?.token,
      this.decoyKey,
    );
    if (!verdict.ok) {
      this.refuseStranger(socket, verdict.why);
      refuseSocket(socket, verdict.status, refusalBody(verdict.status));
      return;
    }
    // The runner proved itself: from here on this socket is a runner, never dropped as a stranger.
    this.cap.release(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.onAuthenticated(ws, verdict.runnerId, remote);
    });
  }

  /** The token was right: wait (bounded) for the hello with the runner's functions. */
  private onAuthenticated(ws: WebSocket, runnerId: string, remote: string): void {
    if (this.closing !== null || !this.expectations.has(runnerId)) {
      ws.terminate();
      return;
    }
    // A runner that redials (its first socket dropped mid-handshake) replaces the old socket.
    this.handshaking.get(runnerId)?.terminate();
    this.handshaking.set(runnerId, ws);
    const timer = setTimeout(
      () => this.refuse(ws, runnerId, CLOSE_PROTOCOL, "no hello in time", remote),
      clampTimerMs(this.settings.helloTimeoutMs),
    );
    timer.unref();
    ws.on("error", (err) => {
      this.settings.log("debug", "runner socket error", { remote, error: err.message });
    });
    ws.once("close", () => {
      clearTimeout(timer);
      if (this.handshaking.get(runnerId) !== ws) return;
      this.handshaking.delete(runnerId);
      this.loading.delete(runnerId);
    });
    ws.once("message", (data: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      if (this.handshaking.get(runnerId) === ws)
        this.onOpening(ws, runnerId, data, isBinary, remote);
    });
  }

  /**
   * `hello`, or first `loading`: the runner's entry still loads. The hello deadline is spent
   * (it bounds the dial, up to the first frame); the boot deadline bounds the load, through
   * the expectation's signal, which terminates this socket and names the entry.
   */
  private onOpening(
    ws: WebSocket,
    runnerId: string,
    data: RawData,
    isBinary: boolean,
    remote: string,
  ): void {
    const { codec, maxFrameBytes } = this.settings;
    const mayLoad = !this.loading.has(runnerId);
    const verdict = judgeOpening(data, isBinary, runnerId, mayLoad, codec, maxFrameBytes);
    if (!verdict.ok) {
      this.loading.delete(runnerId);
      this.refuse(ws, runnerId, CLOSE_PROTOCOL, verdict.why, remote);
      if (verdict.otherProtocol) this.failExpectation(runnerId, verdict.why);
      return;
    }
    if (verdict.msg.t === "loading") {
      this.loading.set(runnerId, { entry: verdict.msg.entry });
      this.settings.log("debug", "runner is loading its entry", {
        runnerId,
        entry: verdict.msg.entry,
      });
      ws.once("message", (next: RawData, nextIsBinary: boolean) => {
        if (this.handshaking.get(runnerId) === ws)
          this.onOpening(ws, runnerId, next, nextIsBinary, remote);
      });
      return;
    }
    const hello = verdict.msg;
    this.handshaking.delete(runnerId);
    this.loading.delete(runnerId);
    const exp = this.expectations.get(runnerId);
    if (exp === undefined) {
      ws.terminate();
      return;
    }
    this.expectations.delete(runnerId);
    exp.signal.removeEventListener("abort", exp.onAbort);
    const conn = new RunnerConnection(ws, hello, {
      codec: this.settings.codec,
      maxFrameBytes: this.settings.maxFrameBytes,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.settings.heartbeatTimeoutMs,
      sendHighWaterBytes: this.settings.sendHighWaterBytes,
      maxQueuedSends: this.settings.maxQueuedSends,
      answerBudgetBytes: this.settings.answerBudgetBytes,
      slices: this.settings.slices,
      log: this.settings.log,
    });
    this.settings.log("debug", "runner said hello", {
      runnerId,
      agentVersion: hello.agentVersion,
      pid: hello.pid,
      host: hello.host,
      remote,
    });
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    conn.sendMessage({ t: "welcome", runnerId });
    exp.resolve(conn);
  }

  /** The runner proved its token but can never work with this parent: fail its boot now. */
  private failExpectation(runnerId: string, why: string): void {
    const exp = this.expectations.get(runnerId);
    if (exp === undefined) return;
    this.expectations.delete(runnerId);
    exp.signal.removeEventListener("abort", exp.onAbort);
    exp.reject(
      new FlameError(
        "BOOT_FAILED",
        `Runner ${runnerId}: ${why}. Run the same flame-ts version on both sides.`,
        { runnerId, permanent: true },
      ),
    );
  }

  private refuse(
    ws: WebSocket,
    runnerId: string,
    code: number,
    reason: string,
    remote: string,
  ): void {
    this.settings.log("warn", `runner socket refused: ${reason}`, { remote, runnerId });
    if (this.handshaking.get(runnerId) === ws) this.handshaking.delete(runnerId);
    // Close reasons are limited to 123 bytes.
    ws.close(code, reason.slice(0, 120));
    const killer = setTimeout(() => ws.terminate(), 1_000);
    killer.unref();
    ws.once("close", () => clearTimeout(killer));
  }
}
