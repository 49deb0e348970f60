import { RunnerServer } from "../link/index.js";
import type { LinkServer, ListenLink } from "./link-port.js";

/** The real runner link: a WebSocket server runners dial (src/link/). */
export const listenRunnerServer: ListenLink = async (options): Promise<LinkServer> =>
  RunnerServer.listen({
    host: options.host,
    port: options.port,
    ...(options.advertiseUrl === undefined ? {} : { advertiseUrl: options.advertiseUrl }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.maxHandshakes === undefined ? {} : { maxHandshakes: options.maxHandshakes }),
    ...(options.maxHandshakesPerSource === undefined
      ? {}
      : { maxHandshakesPerSource: options.maxHandshakesPerSource }),
    ...(options.upgradeTimeoutMs === undefined
      ? {}
      : { upgradeTimeoutMs: options.upgradeTimeoutMs }),
    ...(options.sendHighWaterBytes === undefined
      ? {}
      : { sendHighWaterBytes: options.sendHighWaterBytes }),
    ...(options.maxQueuedSends === undefined ? {} : { maxQueuedSends: options.maxQueuedSends }),
    maxFrameBytes: options.maxFrameBytes,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    log: options.log,
  });
