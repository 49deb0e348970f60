/** Telemetry values for the dashboard's view tests: a snapshot, an event, a sample, a runner. */
import type {
  PoolEvent,
  PoolEventBody,
  RunnerSnapshot,
  SequencedSnapshot,
  TelemetrySample,
} from "@flame-ts/pool-core/telemetry";

export const snapshot = (
  seq: number,
  extra: Partial<SequencedSnapshot> = {},
): SequencedSnapshot => ({
  name: "p",
  min: 0,
  max: 4,
  maxConcurrency: 2,
  maxWaiting: null,
  buffer: 0,
  budget: null,
  draining: false,
  waiting: 0,
  pendingBoots: 0,
  runners: [],
  seq,
  timeMs: 1_000,
  ...extra,
});

export const event = (seq: number, body: PoolEventBody): PoolEvent =>
  ({ ...body, seq, timeMs: 1_000 + seq, pool: "p" }) as PoolEvent;

export const sample = (timeMs: number, extra: Partial<TelemetrySample> = {}): TelemetrySample => ({
  timeMs,
  periodMs: 1_000,
  runners: 0,
  booting: 0,
  slotsUsed: 0,
  queued: 0,
  waiting: 0,
  calls: 0,
  failed: 0,
  p50Ms: null,
  p95Ms: null,
  bootMs: null,
  ...extra,
});

export const runner = (id: string): RunnerSnapshot => ({
  id,
  state: "ready",
  inflight: 0,
  queued: 0,
  isMin: false,
  bootedAtMs: 1,
  callsServed: 0,
  meta: {},
  tracked: 0,
  pinned: 0,
});
