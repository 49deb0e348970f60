/**
 * The telemetry ws protocol (JSON text frames), shared by `serveTelemetry` and the dashboard.
 *
 * Server → client, on connect: `hello` once; then per pool its `history` (what happened before
 * this client came: recent notable events, per-second samples, per-function figures) and a
 * `snapshot` (a client that connects with `?history=0` gets no history); then live `events` batches and one `sample` per pool per sample period.
 * Per pool, event `seq` values increase by exactly 1; a client that sees a gap (or any doubt)
 * sends `{ "type": "resync" }` and gets fresh snapshots (rate-limited per client). Events whose
 * seq is ≤ the snapshot's seq are already reflected in it (history events always are).
 * After a batch with an event that changes the pool's shape (a boot, an exit, a shrink, a drain,
 * a resize, an operator action), the pool's fresh snapshot follows the batch: a client shows the
 * pool's own account and never rebuilds it from events. Snapshots are also re-sent every
 * `snapshotIntervalMs` so gauges that change with calls (slots in use, calls served) stay live.
 *
 * When the server was started with `control: true` (and a token), `hello.control` is true and a
 * client may send `control` messages; each gets one `controlResult` with the same `id`.
 *
 * A server without a token (unless `errorMessages: true`) sends the text of failures, live and
 * in history, as `WITHHELD_MESSAGE` (`withhold.ts`): `callFinished.errorMessage`, `growEnd` and
 * `bootFailed` `error`, `runnerDown` and `shrink` `reason`.
 */
import type { PoolEvent, SequencedSnapshot } from "./events.js";

export const TELEMETRY_STREAM_VERSION = 2;

/** One per-second point of a pool's charts, taken by the server. */
export interface TelemetrySample {
  /** Epoch ms at the end of the period. */
  readonly timeMs: number;
  /** Length of the period in ms (the server's `samplePeriodMs`). */
  readonly periodMs: number;
  /** Runners ready or draining. */
  readonly runners: number;
  /** Runners booting (pending boots included). */
  readonly booting: number;
  /** Calls running on the runners (at most `maxConcurrency` each). */
  readonly slotsUsed: number;
  /**
   * Calls the runners hold queued beyond their slots (`prefetch`), counted apart from
   * `slotsUsed` and from `waiting` (callers the pool itself holds).
   */
  readonly queued: number;
  readonly waiting: number;
  /** Calls, casts and children that finished in the period, and how many of them failed. */
  readonly calls: number;
  readonly failed: number;
  /** Nearest-rank percentiles of the period's call durations; null when none finished. */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  /** The slowest boot that completed in the period; null when none did. */
  readonly bootMs: number | null;
}

/** Per-function figures since the telemetry server started. */
export interface FunctionFigures {
  readonly fn: string;
  readonly calls: number;
  readonly failed: number;
  /** Failed calls by error code (TIMEOUT, REMOTE_ERROR, OVERLOADED, …). */
  readonly errors: Readonly<Record<string, number>>;
  /** Durations of the most recent calls, oldest first (percentiles are taken over these). */
  readonly recentMs: readonly number[];
}

export interface TelemetryHistory {
  /** How far back `samples` and `events` reach, in ms. */
  readonly historyMs: number;
  readonly samples: readonly TelemetrySample[];
  /**
   * Notable events (every type but successful `callFinished` and `checkoutWaited`), oldest
   * first, including the most recent failed calls.
   */
  readonly events: readonly PoolEvent[];
  readonly functions: readonly FunctionFigures[];
}

export type TelemetryServerMessage =
  | {
      readonly type: "hello";
      readonly version: number;
      readonly pools: readonly string[];
      /** True when this server takes `control` messages. */
      readonly control: boolean;
    }
  | { readonly type: "history"; readonly pool: string; readonly history: TelemetryHistory }
  | { readonly type: "snapshot"; readonly pool: string; readonly snapshot: SequencedSnapshot }
  | { readonly type: "events"; readonly events: readonly PoolEvent[] }
  | { readonly type: "sample"; readonly pool: string; readonly sample: TelemetrySample }
  | {
      readonly type: "controlResult";
      readonly id: string;
      readonly ok: boolean;
      /** What happened, or why the action was refused (a sentence for the operator). */
      readonly detail: string;
    };

/** An operator action; the server calls the pool's method with `by` naming the actor. */
export type TelemetryControlRequest =
  | { readonly action: "drainRunner" | "killRunner"; readonly runnerId: string }
  | { readonly action: "resize"; readonly min: number; readonly max: number };

export type TelemetryClientMessage =
  /** Re-send the snapshot of `pool`, or of every pool when omitted. */
  | { readonly type: "resync"; readonly pool?: string }
  | ({
      readonly type: "control";
      /** Echoed in the `controlResult`. */
      readonly id: string;
      readonly pool: string;
      /** Who asks (recorded in the pool's `control` event). Default "telemetry client". */
      readonly by?: string;
    } & TelemetryControlRequest);
