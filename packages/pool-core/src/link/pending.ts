/**
 * The requests sent on one link and not yet over, and how the runner's frames end them. Each
 * outcome goes to a `Reply` the caller owns (the host's checkout), so a request allocates no
 * promise and no closure of its own.
 *
 * A request has two ends that usually coincide: its answer, and the moment the work really
 * stopped on the runner (when the slot may be reused). A call the runner answered early
 * (TIMEOUT, ABORTED: `answeredEarly`) stays here until the runner's `ended` says its function
 * stopped (it returned after its signal aborted, or its thread was terminated).
 *
 * A call or cast the runner holds queued (behind its running work) may be given back before it
 * starts (protocol 9): the parent asks (`unqueue`), the runner answers `unqueued`, and the
 * request ends without an answer: its `Reply` hears `unqueued()` and it runs elsewhere.
 *
 * The link passes no verdict of its own: when it closes, what is still here is dropped without
 * a word, and the host's core fails those callers (RUNNER_DOWN), once.
 */
import { FlameError } from "../errors.js";
import type { AnswerMessage } from "../protocol/answer-frame.js";
import { MAX_CALL_ID } from "../protocol/frame.js";
import { fromWireError } from "../protocol/wire-error.js";
import type { WorkKind } from "../wire/kinds.js";

export type { WorkKind };

/** Where one request's outcome goes. */
export interface Reply {
  /**
   * The answer; the work has ended. `tracked`: the value holds references to resources the
   * runner keeps for this call (`ctx.track`), until the parent releases each one.
   */
  resolve(value: unknown, tracked?: boolean): void;
  /**
   * A failure. `answeredEarly`: the runner answered before the work stopped; `ended()`
   * follows once it has. Otherwise the work has ended.
   */
  reject(error: unknown, answeredEarly: boolean): void;
  /** Work answered early has stopped on the runner: its slot is free. */
  ended(): void;
  /**
   * The runner gave the request back unstarted (the parent's `unqueue`): it never ran there and
   * no answer follows. Its work may be sent again, on this link or another.
   */
  unqueued(): void;
}

/**
 * What the runner's `unqueued` for a request meant: `givenBack` — it was asked and the request
 * is over here; `notPending` — nothing waits under that id (answered, never sent: a race the
 * link ignores); `unexpected` — the parent never asked for it back, or its answer already
 * began: no correct runner sends that, and the request fails as a malformed answer would.
 */
type UnqueuedOutcome = "givenBack" | "notPending" | "unexpected";

interface Pending {
  readonly id: number;
  readonly kind: WorkKind;
  readonly fn: string;
  readonly reply: Reply;
  answeredEarly: boolean;
  /** Its answer arrived and is being decoded (in slices): a second one is a duplicate. */
  decoding: boolean;
  /** The runner's `ended` came while the answer was being decoded: applied after it. */
  endedWhileDecoding: boolean;
  /** The parent asked the runner to give it back (`unqueue`): an `unqueued` is owed or an answer. */
  unqueueAsked: boolean;
}

/** The answer frame each kind of request is owed. */
const ANSWER_OF: Readonly<Record<WorkKind, AnswerMessage["t"]>> = {
  call: "result",
  cast: "cast.done",
  child: "child.exit",
};

export class PendingRequests {
  readonly #byId = new Map<number, Pending>();
  #nextId = 1;

  constructor(private readonly runnerId: string) {}

  get size(): number {
    return this.#byId.size;
  }

  /** Registers a request under a fresh id (ids wrap at the frame's limit). */
  add(kind: WorkKind, fn: string, reply: Reply): number {
    const id = this.#nextId;
    this.#nextId = id >= MAX_CALL_ID ? 1 : id + 1;
    this.#byId.set(id, {
      id,
      kind,
      fn,
      reply,
      answeredEarly: false,
      decoding: false,
      endedWhileDecoding: false,
      unqueueAsked: false,
    });
    return id;
  }

  /**
   * The function a `t` answer for `id` would answer, when one is owed: the request is here,
   * of the kind that answer ends, and has had no answer yet. Otherwise undefined: the answer
   * is unsolicited or a duplicate, and its payload is not worth decoding.
   */
  awaiting(id: number, t: AnswerMessage["t"]): string | undefined {
    const pending = this.#byId.get(id);
    if (pending === undefined || pending.answeredEarly || pending.decoding) return undefined;
    return ANSWER_OF[pending.kind] === t ? pending.fn : undefined;
  }

  /** Request `id`'s answer arrived and is being decoded: no second answer is owed. */
  decoding(id: number): void {
    const pending = this.#byId.get(id);
    if (pending !== undefined) pending.decoding = true;
  }

  isDecoding(id: number): boolean {
    return this.#byId.get(id)?.decoding === true;
  }

  kindOf(id: number): WorkKind | undefined {
    return this.#byId.get(id)?.kind;
  }

  /** Forgets a request that never left this process: nothing ran, nothing will answer. */
  forget(id: number): void {
    this.#byId.delete(id);
  }

  /** `result`, `cast.done` or `child.exit`. A late duplicate finds nothing and is dropped. */
  answer(msg: AnswerMessage): void {
    const pending = this.#byId.get(msg.id);
    if (pending === undefined) return;
    pending.decoding = false;
    const answeredEarly = !msg.ok && msg.answeredEarly === true && !pending.endedWhileDecoding;
    if (!answeredEarly) this.#byId.delete(msg.id);
    if (msg.ok) {
      if (msg.t === "result") pending.reply.resolve(msg.value, msg.tracked === true);
      else pending.reply.resolve(msg.t === "cast.done" ? undefined : msg.value);
      return;
    }
    pending.answeredEarly = answeredEarly;
    const error =
      msg.error === undefined
        ? new FlameError("REMOTE_ERROR", `"${pending.fn}" failed.`)
        : fromWireError(msg.error, pending.fn, this.runnerId);
    // An early answer whose `ended` came while it was being decoded is an answer whose work
    // has ended: one reject, not a reject and an `ended`.
    pending.reply.reject(error, answeredEarly);
  }

  /**
   * Whether request `id` may be asked back (and now is): a call or cast with no answer begun.
   * A placed child never is: its caller already holds a handle naming this runner.
   */
  askUnqueue(id: number): boolean {
    const pending = this.#byId.get(id);
    if (pending === undefined || pending.kind === "child") return false;
    if (pending.answeredEarly || pending.decoding) return false;
    pending.unqueueAsked = true;
    return true;
  }

  /**
   * The runner's `unqueued`. A request asked back ends here and its reply hears it; one never
   * asked back, or whose answer already began, is left as it is for the link to fail (`unusable`).
   */
  unqueued(id: number): UnqueuedOutcome {
    const pending = this.#byId.get(id);
    if (pending === undefined) return "notPending";
    if (!pending.unqueueAsked || pending.decoding || pending.answeredEarly) return "unexpected";
    this.#byId.delete(id);
    pending.reply.unqueued();
    return "givenBack";
  }

  /** The runner's `ended`: work answered early has stopped. */
  ended(id: number): void {
    const pending = this.#byId.get(id);
    if (pending === undefined) return;
    if (pending.decoding) {
      pending.endedWhileDecoding = true;
      return;
    }
    this.#byId.delete(id);
    pending.reply.ended();
  }

  /**
   * The runner is done with request `id` but its answer is unusable (a frame that did not
   * decode, a protocol error it reported): the request fails with `describe(fn)`'s error.
   */
  unusable(id: number, describe: (fn: string) => FlameError): void {
    const pending = this.#byId.get(id);
    if (pending === undefined) return;
    this.#byId.delete(id);
    if (pending.answeredEarly) pending.reply.ended();
    else pending.reply.reject(describe(pending.fn), false);
  }

  /** The link closed: nothing more will come; the host's core fails these callers. */
  dropAll(): void {
    this.#byId.clear();
  }
}
