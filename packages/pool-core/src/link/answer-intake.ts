/**
 * How the parent takes in a runner's answers without trusting that runner with its memory or
 * its time (issue 22, rows 1 and 2). Everything is decided from the frame's header (kind,
 * call id) and length before a byte of the payload is decoded:
 *
 * - an answer nobody waits for (an id never used, already answered, or of the wrong kind) is
 *   dropped undecoded and counted; so is a frame a runner never sends. Past
 *   `DROPPED_FRAME_ALLOWANCE` such frames the link ends as a protocol violation: the runner
 *   is broken or compromised, and its calls fail RUNNER_DOWN through the core like any closed
 *   link's;
 * - an answer that would take the bytes this link holds undecoded past `answerBudgetBytes`
 *   is refused: its call fails OVERLOADED, naming the option;
 * - a large answer is decoded in slices (decode-slices.ts), between the parent's other work;
 * - a large answer arrives in parts (protocol/answer-parts.ts), each judged from its header and
 *   copied, in its own event-loop turn, into one buffer allocated at the first part. The first
 *   part is judged as the whole answer would be (nobody waiting: dropped and counted; over
 *   maxFrameBytes or the budget: refused, and the rest of its parts skipped uncounted). A
 *   runner sends one answer's parts back to back, so a part of another call while one is
 *   being assembled ends the link as a protocol violation; a part out of order or past its
 *   declared total fails its call (PROTOCOL).
 */
import { FlameError } from "../errors.js";
import {
  type AnswerMessage,
  answerWithPayload,
  readAnswerLayout,
} from "../protocol/answer-frame.js";
import { readAnswerPart } from "../protocol/answer-parts.js";
import type { Codec } from "../protocol/codec.js";
import { FRAME_HEADER_BYTES, readFrameHeader } from "../protocol/frame.js";
import type { DecodeOutcome, SliceQueue } from "./decode-slices.js";
import type { LinkLog } from "./log.js";
import type { PendingRequests } from "./pending.js";

/**
 * Frames the parent drops undecoded that a link survives. No race in the protocol makes a
 * well-behaved runner send one (a request stays pending until its runner is done with it),
 * so the allowance only forgives a glitch; a runner that keeps doing it is cut off.
 */
const DROPPED_FRAME_ALLOWANCE = 2;

/**
 * Payloads from this size up are decoded in slices. Below it one synchronous decode costs at
 * most a few ms even for the densest values (~20k empty objects), less than a slice's hop.
 */
const SLICED_DECODE_MIN_BYTES = 64 * 1024;

/**
 * What a runner may send besides answers, and the largest such frame: a runner's control
 * messages (`ended`, `error`, `shutdown`, `released`, `unqueued`) are a few hundred bytes, so a bigger one is not
 * decoded (a runner could otherwise make the parent decode 16 MB of anything).
 */
const RUNNER_CONTROL_KINDS: ReadonlySet<string> = new Set([
  "ended",
  "error",
  "shutdown",
  "released",
  "unqueued",
]);
const MAX_CONTROL_FRAME_BYTES = 64 * 1024;

function isAnswerKind(t: string): t is AnswerMessage["t"] {
  return t === "result" || t === "cast.done" || t === "child.exit";
}

export interface AnswerIntakeOptions {
  readonly runnerId: string;
  readonly pending: PendingRequests;
  readonly codec: Codec;
  readonly maxFrameBytes: number;
  /** Bytes of answers this link may hold received and not yet decoded. */
  readonly answerBudgetBytes: number;
  readonly slices: SliceQueue;
  readonly log: LinkLog;
  /** Ends the link: the runner broke the protocol. */
  readonly violation: (reason: string) => void;
}

/** The answer whose parts are arriving: `bytes` is null when they are being skipped (refused). */
interface Assembly {
  readonly id: number;
  readonly t: AnswerMessage["t"];
  readonly totalBytes: number;
  readonly bytes: Buffer | null;
  filled: number;
}

export class AnswerIntake {
  #dropped = 0;
  #heldBytes = 0;
  #assembly: Assembly | null = null;
  readonly #cancels = new Set<() => void>();

  constructor(private readonly o: AnswerIntakeOptions) {}

  /** Bytes of answers received and still being decoded. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Judges a frame from its header. True when it was dealt with here: an answer (delivered,
   * refused or dropped) or a frame dropped undecoded. False for a runner's control message
   * (or a header that can't be read), which the link decodes and handles itself.
   */
  took(frame: Uint8Array): boolean {
    const header = readFrameHeader(frame);
    if (!header.ok) return false;
    const { t, id } = header;
    if (t === "answer.part") {
      if (id === null) this.drop("an answer part without a call id");
      else this.#takePart(id, frame);
    } else if (isAnswerKind(t)) {
      if (id === null) return false;
      this.#take(t, id, frame);
    } else if (!RUNNER_CONTROL_KINDS.has(t)) {
      this.drop(`a "${t}" frame, which runners never send`);
    } else if (frame.byteLength > MAX_CONTROL_FRAME_BYTES) {
      this.drop(`a ${frame.byteLength}-byte "${t}" frame`);
    } else return false;
    return true;
  }

  /** An answer frame whose header was read: delivered, refused, or dropped undecoded. */
  #take(t: AnswerMessage["t"], id: number, frame: Uint8Array): void {
    const fn = this.o.pending.awaiting(id, t);
    if (fn === undefined) {
      this.drop(`a ${t} for call id ${id}, which nothing waits for`);
      return;
    }
    if (frame.byteLength > this.o.maxFrameBytes) {
      const why = `${t} frame of ${frame.byteLength} bytes is over the receiver's ${this.o.maxFrameBytes}-byte limit (maxFrameBytes)`;
      this.#unusable(id, t, "SERIALIZATION", why);
      return;
    }
    if (this.#heldBytes + frame.byteLength > this.o.answerBudgetBytes) {
      this.#refuse(id, fn, frame.byteLength);
      return;
    }
    this.#accept(t, id, frame);
  }

  /** An answer frame someone waits for, within the limits: decoded now or in slices. */
  #accept(t: AnswerMessage["t"], id: number, frame: Uint8Array): void {
    const layout = readAnswerLayout(t, id, frame, FRAME_HEADER_BYTES);
    if (typeof layout === "string") {
      this.#unusable(id, t, "PROTOCOL", `malformed ${t}: ${layout}`);
      return;
    }
    if ("t" in layout) {
      this.o.pending.answer(layout);
      return;
    }
    const slicing = this.o.codec.decodeInSlices;
    if (slicing === undefined || layout.payload.byteLength < SLICED_DECODE_MIN_BYTES) {
      let payload: unknown;
      try {
        payload = this.o.codec.decode(layout.payload);
      } catch (cause) {
        this.#undecodable(id, t, cause);
        return;
      }
      this.#deliver(id, t, answerWithPayload(t, id, layout, payload));
      return;
    }
    let decode: ReturnType<typeof slicing>;
    try {
      decode = slicing(layout.payload);
    } catch (cause) {
      this.#undecodable(id, t, cause);
      return;
    }
    const held = frame.byteLength;
    this.#heldBytes += held;
    this.o.pending.decoding(id);
    const cancel = this.o.slices.add(decode, (outcome: DecodeOutcome) => {
      this.#cancels.delete(cancel);
      this.#heldBytes -= held;
      if (outcome.ok) this.#deliver(id, t, answerWithPayload(t, id, layout, outcome.value));
      else this.#undecodable(id, t, outcome.message);
    });
    this.#cancels.add(cancel);
  }

  /** One part of a large answer (protocol/answer-parts.ts). */
  #takePart(id: number, frame: Uint8Array): void {
    const open = this.#assembly;
    if (open !== null && open.id !== id) {
      this.o.violation(
        `protocol violation: runner ${this.o.runnerId} sent a part of its answer to call id ${id} while its answer to call id ${open.id} was arriving part by part; the link is ended`,
      );
      return;
    }
    const part = readAnswerPart(id, frame);
    if (open === null) {
      if (typeof part === "string") this.drop(`${part}, for call id ${id}`);
      else if (part.offset !== 0) this.drop(`a part of an answer to call id ${id} never begun`);
      else this.#beginParts(id, part.totalBytes, part.bytes);
      return;
    }
    let problem: string | null = null;
    if (typeof part === "string") problem = part;
    else if (part.totalBytes !== open.totalBytes || part.offset !== open.filled) {
      problem = `an answer part for bytes ${part.offset}.. of ${part.totalBytes} where bytes ${open.filled}.. of ${open.totalBytes} were due`;
    }
    if (typeof part === "string" || problem !== null) {
      this.#endParts(open);
      if (open.bytes !== null)
        this.#unusable(id, open.t, "PROTOCOL", `malformed ${open.t}: ${problem}`);
      return;
    }
    this.#fill(open, part.bytes);
  }

  /** The first part: judged as the whole answer would be, from its header and declared size. */
  #beginParts(id: number, totalBytes: number, first: Uint8Array): void {
    const header = readFrameHeader(first);
    if (!header.ok || !isAnswerKind(header.t) || header.id !== id) {
      this.drop(`an answer part for call id ${id} that does not begin with an answer to it`);
      return;
    }
    const t = header.t;
    const fn = this.o.pending.awaiting(id, t);
    if (fn === undefined) {
      this.drop(`a ${t} (in parts) for call id ${id}, which nothing waits for`);
      return;
    }
    let bytes: Buffer | null = null;
    if (totalBytes > this.o.maxFrameBytes) {
      const why = `${t} frame of ${totalBytes} bytes (in parts) is over the receiver's ${this.o.maxFrameBytes}-byte limit (maxFrameBytes)`;
      this.#unusable(id, t, "SERIALIZATION", why);
    } else if (this.#heldBytes + totalBytes > this.o.answerBudgetBytes) {
      this.#refuse(id, fn, totalBytes);
    } else {
      // Allocated once; its pages are touched part by part, never all in one turn.
      bytes = Buffer.allocUnsafe(totalBytes);
      this.#heldBytes += totalBytes;
      this.o.pending.decoding(id);
    }
    const assembly: Assembly = { id, t, totalBytes, bytes, filled: 0 };
    this.#assembly = assembly;
    this.#fill(assembly, first);
  }

  #fill(open: Assembly, bytes: Uint8Array): void {
    open.bytes?.set(bytes, open.filled);
    open.filled += bytes.byteLength;
    if (open.filled < open.totalBytes) return;
    this.#endParts(open);
    // Its call may have failed while the parts came (the runner gave it back, or sent a frame
    // about it that could not be read): then nobody waits for it, and it is not decoded.
    if (open.bytes !== null && this.o.pending.isDecoding(open.id)) {
      this.#accept(open.t, open.id, open.bytes);
    }
  }

  /** The assembly is over (complete, failed or skipped): its bytes are no longer held here. */
  #endParts(open: Assembly): void {
    this.#assembly = null;
    if (open.bytes !== null) this.#heldBytes -= open.totalBytes;
  }

  /**
   * A frame dropped undecoded (`what` it was); past the allowance, the link ends. Public: the
   * link counts a control frame about nothing it holds (a `released` nobody waits for) here too.
   */
  drop(what: string): void {
    this.#dropped++;
    if (this.#dropped > DROPPED_FRAME_ALLOWANCE) {
      this.o.violation(
        `protocol violation: runner ${this.o.runnerId} sent ${this.#dropped} frames the parent had no use for (the last: ${what}); they were dropped undecoded and the link is ended`,
      );
      return;
    }
    this.o.log("warn", "runner sent a frame nothing waits for; dropped undecoded", {
      runnerId: this.o.runnerId,
      frame: what,
      allowanceLeft: DROPPED_FRAME_ALLOWANCE - this.#dropped,
    });
  }

  /** The link is gone: decodes in progress stop, their bytes are let go. */
  close(): void {
    this.#assembly = null;
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
    this.#heldBytes = 0;
  }

  #deliver(id: number, t: AnswerMessage["t"], answer: AnswerMessage | string): void {
    if (typeof answer === "string") this.#unusable(id, t, "PROTOCOL", `malformed ${t}: ${answer}`);
    else this.o.pending.answer(answer);
  }

  #undecodable(id: number, t: AnswerMessage["t"], cause: unknown): void {
    const why = cause instanceof Error ? cause.message : String(cause);
    this.#unusable(id, t, "SERIALIZATION", `could not decode the ${t} payload: ${why}`);
  }

  #unusable(
    id: number,
    t: AnswerMessage["t"],
    code: "PROTOCOL" | "SERIALIZATION",
    message: string,
  ): void {
    this.o.log("warn", "runner sent a frame that could not be used", {
      runnerId: this.o.runnerId,
      id,
      t,
      error: message,
    });
    // The runner answered, so its work is over whatever the bytes said.
    this.o.pending.unusable(
      id,
      (fn) =>
        new FlameError(code, `The runner's answer to "${fn}" could not be read: ${message}.`, {
          runnerId: this.o.runnerId,
        }),
    );
  }

  #refuse(id: number, fn: string, bytes: number): void {
    const { runnerId, answerBudgetBytes } = this.o;
    const message = `Runner ${runnerId}'s answer to "${fn}" (${bytes} bytes) was refused undecoded: the link already holds ${this.#heldBytes} bytes of answers being decoded, and link.answerBudgetBytes is ${answerBudgetBytes}. Return less data per call (e.g. a URL or a storage key), spread such calls over more runners, or raise link.answerBudgetBytes.`;
    this.o.log("warn", "runner answer refused: over the link's answer budget", {
      runnerId,
      id,
      bytes,
      heldBytes: this.#heldBytes,
      answerBudgetBytes,
    });
    this.o.pending.unusable(id, () => new FlameError("OVERLOADED", message, { runnerId }));
  }
}
