/**
 * What the host needs from the parent side of the runner link (src/link/'s RunnerServer and
 * RunnerConnection satisfy it structurally). Kept as an interface so the host's unit tests
 * run on virtual time against an in-memory link.
 */
import type {
  Cancelled,
  LinkEvents,
  ReleasedOutcome,
  Reply,
  RequestOptions,
  WorkKind,
} from "../link/index.js";

export type { Cancelled, LinkEvents, ReleasedOutcome, Reply, RequestOptions, WorkKind };

export interface LinkServer {
  /** What runners dial. */
  readonly url: string;
  /** SHA-256 fingerprint of the wss:// certificate runners must pin; null or absent for ws://. */
  readonly tlsCertSha256?: string | null;
  /** Resolves once `runnerId` says hello with `token`; rejects when `signal` aborts. */
  expect(runnerId: string, token: string, signal: AbortSignal): Promise<LinkConnection>;
  close(): Promise<void>;
}

export interface LinkConnection {
  readonly runnerId: string;
  /** Threads that run the runner's functions (its hello): calls it may hold queued. */
  readonly threads: number;
  /** Where the link's close and the runner's leaving announcement go (replayed if earlier). */
  attach(events: LinkEvents): void;
  /** Requests whose work has not ended on the runner. */
  readonly inflight: number;
  /**
   * Sends a call, cast or child request; its outcome goes to `reply` (a refusal
   * synchronously). Returns the request id, or null when nothing was sent. On a closed link
   * nothing is sent and nothing answered: the close was reported, the core fails the caller.
   */
  request(
    kind: WorkKind,
    fn: string,
    args: unknown,
    opts: RequestOptions,
    reply: Reply,
  ): number | null;
  /** The caller gave up on a request (its signal, the core's backstop): see `Cancelled`. */
  cancel(requestId: number): Cancelled;
  /**
   * Asks the runner to give back a call or cast it holds queued, unstarted (protocol 9): the
   * request's reply hears `unqueued()` if it had not started (synchronously when it never left
   * this process); otherwise its answer comes as usual. Nothing for an answered request.
   */
  unqueue(requestId: number): void;
  /** Aborts a placed child's ctx.signal on the runner. */
  stopChild(requestId: number): void;
  /** Lets go of tracked resource `index` of call `group`; the runner answers `released`. */
  release(group: number, index: number): void;
  shutdown(reason: string, timeoutMs: number): void;
  /** Drops the link now; its close is reported through `attach`'s `closed`. */
  terminate(reason: string): void;
}

export interface LinkListenOptions {
  readonly host: string;
  readonly port: number;
  readonly advertiseUrl?: string;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly maxHandshakes?: number;
  readonly maxHandshakesPerSource?: number;
  readonly upgradeTimeoutMs?: number;
  readonly sendHighWaterBytes?: number;
  readonly maxQueuedSends?: number;
  readonly answerBudgetBytes?: number;
  readonly maxFrameBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly log: (
    level: "debug" | "info" | "warn" | "error",
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
}

export type ListenLink = (options: LinkListenOptions) => Promise<LinkServer>;
