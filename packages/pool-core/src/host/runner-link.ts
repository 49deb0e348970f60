import { RunnerServer } from "../link/index.js";
import type { ResolvedOptions } from "../options/index.js";
import type { LinkListenOptions, LinkServer, ListenLink } from "./link-port.js";

/** What the pool's listener is opened with, from the pool's options. */
export function linkListenOptions(o: ResolvedOptions): LinkListenOptions {
  return {
    host: o.listen.host,
    port: o.listen.port,
    ...(o.listen.advertiseUrl === undefined ? {} : { advertiseUrl: o.listen.advertiseUrl }),
    ...(o.listen.tls === undefined ? {} : { tls: o.listen.tls }),
    maxHandshakes: o.listen.maxHandshakes,
    maxHandshakesPerSource: o.listen.maxHandshakesPerSource,
    upgradeTimeoutMs: o.listen.upgradeTimeoutMs,
    sendHighWaterBytes: o.link.sendHighWaterBytes,
    maxQueuedSends: o.link.maxQueuedSends,
    answerBudgetBytes: o.link.answerBudgetBytes,
    maxFrameBytes: o.maxFrameBytes,
    heartbeatIntervalMs: o.heartbeat.intervalMs,
    heartbeatTimeoutMs: o.heartbeat.timeoutMs,
    log: o.log,
  };
}

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
    ...(options.answerBudgetBytes === undefined
      ? {}
      : { answerBudgetBytes: options.answerBudgetBytes }),
    maxFrameBytes: options.maxFrameBytes,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    log: options.log,
  });
