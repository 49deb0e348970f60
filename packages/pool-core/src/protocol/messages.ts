/**
 * The runner protocol's messages (ARCHITECTURE.md, "Runner protocol").
 *
 * One message per binary WebSocket frame. A frame is a versioned envelope (see `frame.ts`)
 * around the codec's encoding of one of these objects (work messages: a binary envelope, see
 * `work-frame.ts`). The runner dials the parent, so
 * "parent" is the ws server and "runner" the client.
 */

import type { WireError } from "../wire/wire-error.js";

// The facts both ends agree on live in wire/; these re-exports keep this module's names.
export type { ExecutionSettings } from "../wire/descriptor.js";
export { PROTOCOL_VERSION } from "../wire/version.js";
export type { WireError };

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
      /** The call's key, the same on every attempt; absent: the runner makes one. */
      readonly idempotencyKey?: string;
      /** 1 (absent) for the first attempt, 2 for the first retry after a runner loss, … */
      readonly attempt?: number;
      /**
       * Pinned: run where the tracked resources of call `on` (its id on this link) live, in
       * their thread; absent: anywhere.
       */
      readonly on?: number;
      /** With `on`: which of that call's values (`ctx.track` order, from 0) is `ctx.resource`. */
      readonly onIndex?: number;
    }
  | {
      readonly t: "cast";
      readonly id: number;
      readonly fn: string;
      readonly args: Uint8Array;
      readonly traceparent?: string;
      readonly idempotencyKey?: string;
      readonly attempt?: number;
    }
  | { readonly t: "cancel"; readonly id: number }
  /**
   * Give call `id` back if it has not started (protocol 9): the runner holds calls beyond its
   * `maxConcurrency` queued, and the parent takes one back when a slot freed on another runner.
   * Answered `unqueued` when it had not started; ignored when it had (its answer follows).
   */
  | { readonly t: "unqueue"; readonly id: number }
  /** Start a placed child: a long-lived call whose end is reported with `child.exit`. */
  | {
      readonly t: "child.start";
      readonly id: number;
      readonly fn: string;
      readonly args: Uint8Array;
      readonly traceparent?: string;
      readonly idempotencyKey?: string;
      readonly attempt?: number;
    }
  /** Ask a placed child to stop: its ctx.signal aborts; it still reports `child.exit`. */
  | { readonly t: "child.stop"; readonly id: number }
  /** Drain (let running calls finish for up to timeoutMs), then exit. */
  | { readonly t: "shutdown"; readonly reason: string; readonly timeoutMs: number }
  /**
   * The parent let go of tracked resource `index` of call `id`: run its dispose (after the
   * pinned calls already sent to it), then answer `released`.
   */
  | { readonly t: "release"; readonly id: number; readonly index: number };

export type RunnerToParent =
  /**
   * Sent instead of `hello` as the first frame when the runner's entry module is still loading
   * (protocol 8): the parent stops its hello deadline and waits for the `hello` that follows,
   * within the boot deadline (`bootTimeout`). `entry` names the module, for the boot error.
   */
  | {
      readonly t: "loading";
      readonly runnerId: string;
      readonly protocol: number;
      readonly entry: string | null;
    }
  | {
      readonly t: "hello";
      readonly runnerId: string;
      readonly protocol: number;
      readonly functions: readonly string[];
      readonly agentVersion: string;
      readonly pid: number;
      readonly host: string;
      /**
       * Threads that run its functions (1 inline; protocol 9): with prefetch the parent may
       * send it up to that many calls beyond `maxConcurrency`, one waiting for each thread.
       */
      readonly threads: number;
    }
  | {
      readonly t: "result";
      readonly id: number;
      readonly ok: true;
      readonly value: unknown;
      /**
       * The value holds tracked references (`ctx.track`): the runner keeps those resources
       * and the call's slot stays held until the parent has released every one.
       */
      readonly tracked?: true;
    }
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
  /** Call `id` was queued and never started: the runner dropped it for the parent's `unqueue`. */
  | { readonly t: "unqueued"; readonly id: number }
  /** The runner is leaving (single use done, failsafe, fatal error); calls already sent still finish. */
  | { readonly t: "shutdown"; readonly reason: string }
  /**
   * Tracked resource `index` of call `id` no longer exists on the runner: released by the
   * parent (its dispose ran; `error` when dispose threw), or lost with its thread (`lost`).
   */
  | {
      readonly t: "released";
      readonly id: number;
      readonly index: number;
      readonly error?: WireError;
      readonly lost?: true;
    };

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
