/** Bounds on one runner link: `link` (memory, the parent's deadline backstop) and `maxFrameBytes`. */
import {
  DEFAULT_ANSWER_BUDGET_BYTES,
  DEFAULT_MAX_QUEUED_SENDS,
  DEFAULT_SEND_HIGH_WATER_BYTES,
} from "../protocol/defaults.js";
import { MIN_FRAME_BYTES } from "../wire/index.js";
import { graceMs, group, integer } from "./checks.js";
import { DEFAULTS } from "./defaults.js";

/** Bounds on what one runner link may hold in memory, and how long it waits past a deadline. */
export interface LinkOption {
  /**
   * Bytes a link may have queued for its socket (ws `bufferedAmount`) before a new request
   * waits for it to drain. Default 32 MiB; at least 1,024.
   */
  readonly sendHighWaterBytes?: number;
  /**
   * Requests that may wait for that drain per link; one more fails OVERLOADED at once, naming
   * this option. Default 1,000.
   */
  readonly maxQueuedSends?: number;
  /**
   * How long (ms) past a call's deadline the parent waits for the runner's answer before
   * failing the call TIMEOUT itself (a runner that hung without answering). The runner
   * enforces the deadline first; this only bounds a runner that never answers. Default 1,000;
   * 0 fails the call at its deadline.
   */
  readonly deadlineGrace?: number;
  /**
   * Bytes of a runner's answers the parent holds received and not yet decoded, per link
   * (large answers are decoded in slices, between the parent's other work). An answer that
   * would pass it fails its call OVERLOADED, naming this option; the link goes on. Default
   * the larger of 64 MiB and `maxFrameBytes`; at least `maxFrameBytes`.
   */
  readonly answerBudgetBytes?: number;
}

export interface LinkOptions {
  /**
   * Per-link bounds; see LinkOption. Default
   * `{ sendHighWaterBytes: 32 MiB, maxQueuedSends: 1_000, deadlineGrace: 1_000,
   * answerBudgetBytes: 64 MiB }`.
   */
  readonly link?: LinkOption;
  /**
   * Largest message in bytes either side sends or accepts, at least 1,024. Default 16 MiB.
   * A bigger input or result fails its call `SERIALIZATION`, naming this option; the link's
   * other calls go on. Pass large data by reference (a URL, a storage key).
   */
  readonly maxFrameBytes?: number;
}

export interface ResolvedLink {
  readonly link: {
    readonly sendHighWaterBytes: number;
    readonly maxQueuedSends: number;
    readonly deadlineGraceMs: number;
    readonly answerBudgetBytes: number;
  };
  readonly maxFrameBytes: number;
}

export function resolveLink(o: LinkOptions): ResolvedLink {
  const link = group(
    "link",
    o.link,
    "{ sendHighWaterBytes?, maxQueuedSends?, deadlineGrace?, answerBudgetBytes? }",
  );
  const maxFrameBytes = integer(
    "maxFrameBytes",
    o.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
    MIN_FRAME_BYTES,
  );
  return {
    link: {
      sendHighWaterBytes: integer(
        "link.sendHighWaterBytes",
        link.sendHighWaterBytes ?? DEFAULT_SEND_HIGH_WATER_BYTES,
        1024,
      ),
      maxQueuedSends: integer(
        "link.maxQueuedSends",
        link.maxQueuedSends ?? DEFAULT_MAX_QUEUED_SENDS,
        0,
      ),
      deadlineGraceMs: graceMs(
        "link.deadlineGrace",
        link.deadlineGrace ?? DEFAULTS.linkDeadlineGraceMs,
      ),
      // Below maxFrameBytes, an answer near that size could never be taken in.
      answerBudgetBytes: integer(
        "link.answerBudgetBytes",
        link.answerBudgetBytes ?? Math.max(DEFAULT_ANSWER_BUDGET_BYTES, maxFrameBytes),
        maxFrameBytes,
      ),
    },
    maxFrameBytes,
  };
}
