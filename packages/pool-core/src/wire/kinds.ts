/**
 * The kinds of work and of message both ends of the link name. The message unions in
 * `protocol/messages.ts` use exactly these `t` values (test/wire/kinds.test-d.ts holds them to it).
 */

/** What a request runs: a call (answered), a cast (fire and forget) or a placed child. */
export const WORK_KINDS = ["call", "cast", "child"] as const;
export type WorkKind = (typeof WORK_KINDS)[number];

/** The `t` of every message the parent sends a runner. */
export const PARENT_MESSAGE_KINDS = [
  "welcome",
  "call",
  "cast",
  "cancel",
  "child.start",
  "child.stop",
  "shutdown",
  "release",
  "unqueue",
] as const;
export type ParentMessageKind = (typeof PARENT_MESSAGE_KINDS)[number];

/** The `t` of every message a runner sends its parent. */
export const RUNNER_MESSAGE_KINDS = [
  "hello",
  "result",
  "cast.done",
  "child.exit",
  "ended",
  "shutdown",
  "released",
  "loading",
  "unqueued",
] as const;
export type RunnerMessageKind = (typeof RUNNER_MESSAGE_KINDS)[number];

/** Either side may report a frame it could not use with an `error` message. */
export const ERROR_MESSAGE_KIND = "error";
