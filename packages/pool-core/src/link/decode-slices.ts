/**
 * Where large answers are decoded: one queue for the whole listener, one slice of one decode
 * per turn of the event loop, decodes taking turns. However many runners send large answers
 * at once, the parent's event loop is never held longer than one slice between its other
 * work (I/O, timers, other runners' frames); a big answer takes longer to arrive instead.
 *
 * One slice is `SLICE_BUDGET` units of the codec's work (protocol/v8-slices.ts: one unit per
 * value, plus one per KiB copied): about 1–5 ms on the loaded dev box for the densest values, small
 * objects (see bench/answer-flood.ts).
 */
import type { SlicedDecode } from "../protocol/codec.js";

const SLICE_BUDGET = 8_192;

export type DecodeOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly message: string };

interface Job {
  readonly decode: SlicedDecode;
  readonly done: (outcome: DecodeOutcome) => void;
  cancelled: boolean;
}

/** Runs `fn` on a later turn of the event loop; tests pass one they drive by hand. */
export type ScheduleSlice = (fn: () => void) => void;

export class SliceQueue {
  readonly #jobs: Job[] = [];
  #scheduled = false;

  constructor(private readonly schedule: ScheduleSlice = setImmediate) {}

  /** Decodes waiting or in progress. */
  get size(): number {
    return this.#jobs.length;
  }

  /** Queues a decode; `done` is called once, on a later turn. Returns a cancel function. */
  add(decode: SlicedDecode, done: (outcome: DecodeOutcome) => void): () => void {
    const job: Job = { decode, done, cancelled: false };
    this.#jobs.push(job);
    this.#wake();
    return () => {
      job.cancelled = true;
    };
  }

  #wake(): void {
    if (this.#scheduled || this.#jobs.length === 0) return;
    this.#scheduled = true;
    this.schedule(() => this.#slice());
  }

  #slice(): void {
    this.#scheduled = false;
    const job = this.#jobs.shift();
    if (job === undefined) return;
    if (!job.cancelled) {
      let outcome: DecodeOutcome | null = null;
      try {
        if (job.decode.step(SLICE_BUDGET)) outcome = { ok: true, value: job.decode.value };
      } catch (cause) {
        outcome = { ok: false, message: cause instanceof Error ? cause.message : String(cause) };
      }
      if (outcome === null) this.#jobs.push(job);
      this.#wake();
      if (outcome !== null) job.done(outcome);
      return;
    }
    this.#wake();
  }
}
