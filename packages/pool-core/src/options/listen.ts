/** Where runners dial this parent (the runner port): the `listen` option. */
import { invalidOption } from "../errors.js";
import {
  DEFAULT_MAX_HANDSHAKES_PER_SOURCE,
  DEFAULT_UPGRADE_TIMEOUT_MS,
} from "../link/upgrade-gate.js";
import { DEFAULT_MAX_HANDSHAKES } from "../protocol/defaults.js";
import { duration, group, integer } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

/** A PEM certificate and its key, as strings or Buffers. */
interface TlsOption {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** The runner port (README "Security"). */
export interface ListenOption {
  /**
   * Interface to listen on. Default: where the backend asks (`Backend.listenHost`, e.g.
   * DockerBackend's bridge gateway), else "127.0.0.1" (loopback: only this host's runners).
   */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /**
   * URL runners dial when it differs from ws://host:port (e.g. a Fly 6PN address, a pod IP).
   * Default: none (runners dial the address the port is bound to).
   */
  readonly advertiseUrl?: string;
  /**
   * Serve `wss://` with this PEM certificate and key, for links that cross a network you do
   * not trust. Each runner pins the certificate's SHA-256 (carried in FLAME_PARENT), so a
   * self-signed certificate is enough. Default: plain `ws://`.
   * Example: `{ cert: readFileSync("runner-port.crt", "utf8"), key: readFileSync("runner-port.key", "utf8") }`.
   */
  readonly tls?: TlsOption;
  /**
   * Sockets connected but not yet authenticated at once; when full, the oldest of them is
   * dropped (never one that presented a valid token). Default 64.
   */
  readonly maxHandshakes?: number;
  /**
   * The same bound per peer address: past it that address loses its own oldest socket, so one
   * host cannot crowd out another's runners. Default 16.
   */
  readonly maxHandshakesPerSource?: number;
  /** Milliseconds a socket has, from connecting, to present a valid token. Default 3,000. */
  readonly upgradeTimeout?: number;
}

export interface ListenOptions {
  /** Where runners dial this parent; see ListenOption. Default `{ host: "127.0.0.1", port: 0 }`. */
  readonly listen?: ListenOption;
}

export interface ResolvedListen {
  readonly listen: {
    readonly host: string;
    readonly port: number;
    readonly advertiseUrl?: string;
    readonly tls?: TlsOption;
    readonly maxHandshakes: number;
    readonly maxHandshakesPerSource: number;
    readonly upgradeTimeoutMs: number;
  };
}

export function resolveListen(o: ListenOptions): ResolvedListen {
  const listen = group(
    "listen",
    o.listen,
    "{ host?, port?, advertiseUrl?, tls?, maxHandshakes?, maxHandshakesPerSource?, upgradeTimeout? }",
  );
  const host = listen.host ?? DEFAULTS.listenHost;
  if (typeof host !== "string" || host.length === 0) {
    throw invalidOption("listen.host", "a host name or IP address", host);
  }
  const port = integer("listen.port", listen.port ?? DEFAULTS.listenPort, 0);
  if (port > 65_535) throw invalidOption("listen.port", "a port in 0..65535", port);
  const { advertiseUrl, tls } = listen;
  if (advertiseUrl !== undefined && !/^wss?:\/\/./.test(String(advertiseUrl))) {
    throw invalidOption("listen.advertiseUrl", "a ws:// or wss:// URL", advertiseUrl);
  }
  if (tls !== undefined) checkTls(tls, advertiseUrl);
  return {
    listen: {
      host,
      port,
      maxHandshakes: integer(
        "listen.maxHandshakes",
        listen.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES,
        1,
      ),
      maxHandshakesPerSource: integer(
        "listen.maxHandshakesPerSource",
        listen.maxHandshakesPerSource ?? DEFAULT_MAX_HANDSHAKES_PER_SOURCE,
        1,
      ),
      upgradeTimeoutMs: duration(
        "listen.upgradeTimeout",
        listen.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT_MS,
      ),
      ...(advertiseUrl === undefined ? {} : { advertiseUrl }),
      ...(tls === undefined ? {} : { tls: { cert: tls.cert, key: tls.key } }),
    },
  };
}

function checkTls(tls: TlsOption, advertiseUrl: string | undefined): void {
  if (typeof tls !== "object" || tls === null) {
    throw invalidOption("listen.tls", "an object { cert, key } of PEM strings", tls);
  }
  for (const key of ["cert", "key"] as const) {
    if (typeof tls[key] !== "string" && !Buffer.isBuffer(tls[key])) {
      throw invalidOption(`listen.tls.${key}`, "a PEM string or Buffer", tls[key]);
    }
  }
  // A pinned certificate is pointless if runners are told to dial plain ws://.
  if (advertiseUrl !== undefined && !String(advertiseUrl).startsWith("wss://")) {
    throw invalidOption("listen.advertiseUrl", "a wss:// URL when listen.tls is set", advertiseUrl);
  }
}
