/**
 * startAgent: load the user's functions, dial the parent, serve until told (or forced) to
 * leave. Never calls process.exit: the bin does, so the agent can also run in-process.
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type Codec,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  type ParentDescriptor,
  v8Codec,
} from "@flame-ts/pool-core/protocol";
import { dialParent } from "./dial.js";
import { type AgentExit, EXIT } from "./exit-codes.js";
import { Session } from "./session.js";

export interface AgentOptions {
  readonly descriptor: ParentDescriptor;
  /** Module that defines the functions (file path, relative to cwd, or URL). Loaded before dialing. */
  readonly entry?: string | URL;
  readonly codec?: Codec;
  readonly heartbeatIntervalMs?: number;
  /** Diagnostic lines (never the final exit line). */
  readonly debug?: (msg: string) => void;
}

export interface RunningAgent {
  /** Settles once with how and why the agent ended. Never rejects. */
  readonly exited: Promise<AgentExit>;
  /** Leave now (exit code 0), telling the parent if connected. */
  stop(reason: string): void;
}

export function startAgent(options: AgentOptions): RunningAgent {
  const stopController = new AbortController();
  let session: Session | null = null;
  let stopReason: string | null = null;
  const exited = run();
  return {
    exited,
    stop(reason) {
      if (stopReason !== null) return;
      stopReason = reason;
      stopController.abort();
      session?.stop(reason);
    },
  };

  async function run(): Promise<AgentExit> {
    const debug = options.debug ?? (() => {});
    if (options.entry !== undefined) {
      const url = entryUrl(options.entry);
      try {
        await import(url);
      } catch (err) {
        return {
          code: EXIT.BAD_CONFIG,
          reason: `could not load entry ${url}: ${(err as Error)?.message ?? String(err)}`,
        };
      }
    }
    const codec = options.codec ?? v8Codec;
    const dialed = await dialParent(options.descriptor, codec, stopController.signal);
    if (stopReason !== null) {
      if (dialed.kind === "welcomed") dialed.link.ws.close(1000, "runner stopping");
      return { code: EXIT.OK, reason: stopReason };
    }
    if (dialed.kind === "refused") return { code: EXIT.REFUSED, reason: dialed.reason };
    if (dialed.kind === "unreachable") {
      return { code: EXIT.PARENT_UNREACHABLE, reason: dialed.reason };
    }
    debug(`connected to ${options.descriptor.url} as ${options.descriptor.runnerId}`);
    session = new Session(dialed.link, {
      descriptor: options.descriptor,
      codec,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      debug,
    });
    return session.ended;
  }
}

/** A URL (file:, data:, https: ...) passes through; anything else is a path relative to cwd. */
export function entryUrl(entry: string | URL): string {
  if (entry instanceof URL) return entry.href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(entry) && !isAbsolute(entry)) return entry;
  return pathToFileURL(resolve(process.cwd(), entry)).href;
}
