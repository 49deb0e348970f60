/**
 * What RunnerServer.listen accepts, its defaults and their validation (INVALID_OPTIONS naming
 * the pool option each one comes from), kept apart from what the listener does.
 */
import { X509Certificate } from "node:crypto";
import { FlameError, invalidOption } from "../errors.js";
import { type Codec, v8Codec } from "../protocol/codec.js";
import {
  DEFAULT_ANSWER_BUDGET_BYTES,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_QUEUED_SENDS,
  DEFAULT_SEND_HIGH_WATER_BYTES,
} from "../protocol/defaults.js";
import { SliceQueue } from "./decode-slices.js";
import { type LinkLog, silentLog } from "./log.js";
import { DEFAULT_MAX_HANDSHAKES_PER_SOURCE, DEFAULT_UPGRADE_TIMEOUT_MS } from "./upgrade-gate.js";

/** PEM certificate and key for `wss://`; the runner pins the certificate's SHA-256. */
export interface LinkTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface RunnerServerOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** URL runners dial when it differs from ws://host:port (e.g. a Fly 6PN address). */
  readonly advertiseUrl?: string;
  /**
   * Serve `wss://` with this certificate (PEM). The runner descriptor carries its SHA-256
   * fingerprint and the runner refuses any other certificate, so a self-signed one is fine.
   * Default: plain `ws://` (fine on loopback or a private network such as Fly's 6PN).
   */
  readonly tls?: LinkTlsOptions;
  /**
   * Sockets that may be connected and not yet authenticated at once; past it the oldest is
   * dropped. Default 64.
   */
  readonly maxHandshakes?: number;
  /** The same, per peer address (its own oldest is dropped). Default 16. */
  readonly maxHandshakesPerSource?: number;
  /** A socket must present a valid token within this of connecting. Default 3,000 ms. */
  readonly upgradeTimeoutMs?: number;
  /** Bytes a link may queue in its socket before new requests wait. Default 32 MiB. */
  readonly sendHighWaterBytes?: number;
  /** Requests that may wait for the socket to drain, per link. Default 1,000. */
  readonly maxQueuedSends?: number;
  /**
   * Bytes of answers one link may hold received and not yet decoded; an answer that would
   * pass it fails its call OVERLOADED. Default the larger of 64 MiB and `maxFrameBytes`; at
   * least `maxFrameBytes`.
   */
  readonly answerBudgetBytes?: number;
  /** @internal Where large answers are decoded; tests pass one they drive. Default: one per server. */
  readonly slices?: SliceQueue;
  /** Largest frame sent or accepted. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  readonly codec?: Codec;
  /** Ping period. Default 1,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A runner silent this long (no frame, no pong) is dropped. Default 10,000 ms. */
  readonly heartbeatTimeoutMs?: number;
  /**
   * An authenticated socket must send its first frame (`hello`, or `loading` while its entry
   * still loads: protocol 8) within this; after `loading` the boot deadline bounds the hello.
   * Default 10,000 ms.
   */
  readonly helloTimeoutMs?: number;
  readonly log?: LinkLog;
}

/** The options after defaults, minus where to listen. */
export type ServerSettings = Required<
  Omit<RunnerServerOptions, "advertiseUrl" | "host" | "port" | "tls">
>;

export interface ResolvedServerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: LinkTlsOptions | undefined;
  /** SHA-256 fingerprint of the TLS certificate ("AB:CD:…"), null for plain ws://. */
  readonly tlsCertSha256: string | null;
  readonly settings: ServerSettings;
}

export function resolveServerSettings(options: RunnerServerOptions): ResolvedServerOptions {
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
  const maxHandshakes = options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES;
  if (!Number.isInteger(maxHandshakes) || maxHandshakes < 1)
    throw invalidOption("listen.maxHandshakes", "an integer ≥ 1", maxHandshakes);
  const perSource = options.maxHandshakesPerSource ?? DEFAULT_MAX_HANDSHAKES_PER_SOURCE;
  if (!Number.isInteger(perSource) || perSource < 1)
    throw invalidOption("listen.maxHandshakesPerSource", "an integer ≥ 1", perSource);
  const upgradeTimeoutMs = options.upgradeTimeoutMs ?? DEFAULT_UPGRADE_TIMEOUT_MS;
  if (!(upgradeTimeoutMs > 0))
    throw invalidOption("listen.upgradeTimeout", "a positive number of ms", upgradeTimeoutMs);
  const answerBudgetBytes = options.answerBudgetBytes ?? defaultAnswerBudgetBytes(maxFrameBytes);
  if (!Number.isSafeInteger(answerBudgetBytes) || answerBudgetBytes < maxFrameBytes)
    throw invalidOption(
      "link.answerBudgetBytes",
      `an integer ≥ maxFrameBytes (${maxFrameBytes}): a smaller budget would refuse every answer near that size`,
      answerBudgetBytes,
    );
  const tls = options.tls;
  const tlsCertSha256 = tls === undefined ? null : certFingerprint(tls);
  return {
    host,
    port,
    tls,
    tlsCertSha256,
    settings: {
      maxFrameBytes,
      codec: options.codec ?? v8Codec,
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
      maxHandshakes,
      maxHandshakesPerSource: perSource,
      upgradeTimeoutMs,
      sendHighWaterBytes: options.sendHighWaterBytes ?? DEFAULT_SEND_HIGH_WATER_BYTES,
      maxQueuedSends: options.maxQueuedSends ?? DEFAULT_MAX_QUEUED_SENDS,
      answerBudgetBytes,
      slices: options.slices ?? new SliceQueue(),
      log: options.log ?? silentLog,
    },
  };
}

/** The answer budget when none is given: room for a few large answers at once. */
function defaultAnswerBudgetBytes(maxFrameBytes: number): number {
  return Math.max(DEFAULT_ANSWER_BUDGET_BYTES, maxFrameBytes);
}

/** "AB:CD:…" SHA-256 of the certificate, or INVALID_OPTIONS naming listen.tls.cert. */
function certFingerprint(tls: LinkTlsOptions): string {
  if (typeof tls !== "object" || tls === null) {
    throw invalidOption("listen.tls", "an object { cert, key } of PEM strings", tls);
  }
  if (typeof tls.key !== "string" && !Buffer.isBuffer(tls.key)) {
    throw invalidOption("listen.tls.key", "a PEM private key (string or Buffer)", tls.key);
  }
  try {
    return new X509Certificate(tls.cert).fingerprint256;
  } catch (cause) {
    throw new FlameError(
      "INVALID_OPTIONS",
      `Invalid option \`listen.tls.cert\`: expected a PEM certificate (${(cause as Error).message}).`,
      { field: "listen.tls.cert", cause },
    );
  }
}
