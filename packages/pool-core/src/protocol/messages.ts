/**
 * The runner protocol's messages (ARCHITECTURE.md, "Runner protocol").
 *
 * One message per binary WebSocket frame. A frame is a versioned envelope (see `frame.ts`)
 * around the codec's encoding of one of these objects (work messages: a binary envelope, see
 * `work-frame.ts`). The runner dials the parent, so
 * "parent" is the ws server and "runner" the client.
 */

/**
 * 2: call inputs travel as codec-encoded bytes, deadlines as ms remaining, `ended` added.
 * 3: authentication moved to the HTTP upgrade (protocol/handshake.ts); the hello carries no
 *    token; the parent proves it knows the token; optional wss:// with a pinned certificate.
 * 4: work frames (call, cast, child.start) carry a binary envelope and the input's bytes
 *    unwrapped (protocol/work-frame.ts) instead of a codec-encoded message.
 */
export const PROTOCOL_VERSION = 4;

/** An error as it travels on the wire. `code` is a FlameErrorCode. */
export interface WireError {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type ParentToRunner =
  | { readonly t: "welcome"; readonly runnerId: string }
  /**
   * `args` is the codec's encoding of the input, so the runner hands the bytes to the thread
   * that runs the function and decodes there (its main thread never decodes user data).
   * `timeoutMs`: how long the call may still run when sent, in ms, never a wall-clock instant
   * (hosts' clocks differ); null = no deadline.
   */
  | {
      readonly t: "call";
      readonly id: number;
      readonly fn: string;
      readonly args: Uint8Array;
      readonly timeoutMs: number | null;
      readonly traceparent?: string;
    }
  | {
      readonly t: "cast";
      readonly id: number;
      readonly fn: string;
      readonly args: Uint8Array;
      readonly traceparent?: string;
    }
  | { readonly t: "cancel"; readonly id: number }
  /** Start a placed child: a long-lived call whose end is reported with `child.exit`. */
  | {
      readonly t: "child.start";
      readonly id: number;
      readonly fn: string;
      readonly args: Uint8Array;
      readonly traceparent?: string;
    }
  /** Ask a placed child to stop: its ctx.signal aborts; it still reports `child.exit`. */
  | { readonly t: "child.stop"; readonly id: number }
  /** Drain (let running calls finish for up to timeoutMs), then exit. */
  | { readonly t: "shutdown"; readonly reason: string; readonly timeoutMs: number };

export type RunnerToParent =
  | {
      readonly t: "hello";
      readonly runnerId: string;
      readonly protocol: number;
      readonly functions: readonly string[];
      readonly agentVersion: string;
      readonly pid: number;
      readonly host: string;
    }
  | { readonly t: "result"; readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly t: "result";
      readonly id: number;
      readonly ok: false;
      readonly error: WireError;
      /**
       * Answered early: the caller is answered (TIMEOUT, ABORTED) before the work stopped, and
       * its slot stays held until the `ended` that follows once it has.
       */
      readonly answeredEarly?: true;
    }
  /** A cast finished; sent so the parent can release the slot and report failures to telemetry. */
  | {
      readonly t: "cast.done";
      readonly id: number;
      readonly ok: boolean;
      readonly error?: WireError;
      readonly answeredEarly?: true;
    }
  | { readonly t: "child.exit"; readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly t: "child.exit";
      readonly id: number;
      readonly ok: false;
      readonly error: WireError;
      readonly answeredEarly?: true;
    }
  /**
   * Work answered early (`answeredEarly`) has really stopped: its function returned after
   * its signal aborted, or its thread was terminated. The parent frees the slot only now.
   */
  | { readonly t: "ended"; readonly id: number }
  /** The runner is leaving (single use done, failsafe, fatal error); calls already sent still finish. */
  | { readonly t: "shutdown"; readonly reason: string };

/**
 * Either side may report a frame it could not use. `id` names the call it belonged to when
 * the envelope could be read; the connection stays up (other calls are not lost).
 */
export interface ProtocolErrorMessage {
  readonly t: "error";
  readonly id: number | null;
  readonly code: "PROTOCOL" | "SERIALIZATION" | "UNKNOWN_FUNCTION";
  readonly message: string;
}

export type AnyMessage = ParentToRunner | RunnerToParent | ProtocolErrorMessage;

/** What a backend puts in the runner's FLAME_PARENT variable (base64url JSON). */
export interface ParentDescriptor {
  /** ws:// or wss:// URL of the parent's listener as the runner must dial it. */
  readonly url: string;
  /**
   * Per-runner random secret: the runner presents it at the upgrade (compared in constant
   * time) and checks the parent's proof of it (protocol/handshake.ts).
   */
  readonly token: string;
  /**
   * SHA-256 fingerprint ("AB:CD:…") of the parent's TLS certificate when `url` is wss://: the
   * runner refuses any other certificate (so a self-signed one is enough). Absent for ws://.
   */
  readonly tlsCertSha256?: string;
  readonly runnerId: string;
  readonly pool: string;
  readonly protocol: number;
  /** The agent exits when idle this long with no calls/children; null = the parent decides. */
  readonly idleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  /** Exit if the parent can't be reached within this (FLAME: 20 s). */
  readonly failsafeTimeoutMs: number;
  /** Bound on draining at shutdown. */
  readonly shutdownTimeoutMs: number;
  /** Largest frame either side accepts. */
  readonly maxFrameBytes: number;
  /** Both ends ping this often. */
  readonly heartbeatIntervalMs: number;
  /** Both ends drop a link silent this long (no frame, no pong). */
  readonly heartbeatTimeoutMs: number;
  /** The pool's slots per runner: the runner sizes its thread pool by it. */
  readonly maxConcurrency: number;
  readonly execution: ExecutionSettings;
}

/** How a runner executes functions (the pool's `execution` option, resolved). */
export interface ExecutionSettings {
  /** "threads": worker threads (default); "inline": on the agent's own event loop. */
  readonly mode: "threads" | "inline";
  /** Worker threads; null = min(maxConcurrency, CPUs the runner may use). */
  readonly threads: number | null;
  /** After a deadline or cancel, how long a function may keep running before its thread is terminated. */
  readonly terminateGraceMs: number;
  /** Heap cap per worker thread in MB (resourceLimits.maxOldGenerationSizeMb); null = Node's default. */
  readonly threadMemoryMb: number | null;
}
