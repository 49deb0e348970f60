/**
 * The telemetry ws protocol (JSON text frames), shared by `serveTelemetry` and the dashboard.
 *
 * Server → client: `hello` once, then per pool a `snapshot`, then `events` batches. Per pool,
 * event `seq` values increase by exactly 1; a client that sees a gap (or any doubt) sends
 * `{ "type": "resync" }` and gets fresh snapshots. Events whose seq is ≤ the snapshot's seq
 * are already reflected in it. Snapshots are also re-sent every `snapshotIntervalMs` so
 * gauges that change without an event (slots in use) stay live.
 */
import type { PoolEvent, SequencedSnapshot } from "./events.js";

export const TELEMETRY_STREAM_VERSION = 1;

export type TelemetryServerMessage =
  | { readonly type: "hello"; readonly version: number; readonly pools: readonly string[] }
  | { readonly type: "snapshot"; readonly pool: string; readonly snapshot: SequencedSnapshot }
  | { readonly type: "events"; readonly events: readonly PoolEvent[] };

export type TelemetryClientMessage =
  /** Re-send the snapshot of `pool`, or of every pool when omitted. */
  { readonly type: "resync"; readonly pool?: string };
