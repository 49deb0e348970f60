/**
 * The message unions (protocol/messages.ts) use exactly wire's kinds: a message added to one
 * side and not the other fails here, not on a runner in production.
 */
import { describe, expectTypeOf, it } from "vitest";
import type { AgentExit } from "../../../runner-agent/src/exit-codes.js";
import type {
  ParentToRunner,
  ProtocolErrorMessage,
  RunnerToParent,
} from "../../src/protocol/messages.js";
import type {
  ERROR_MESSAGE_KIND,
  ParentMessageKind,
  RunnerExitCode,
  RunnerMessageKind,
  WireError,
  WorkKind,
} from "../../src/wire/index.js";

describe("wire kinds", () => {
  it("are the `t` of every message", () => {
    expectTypeOf<ParentToRunner["t"]>().toEqualTypeOf<ParentMessageKind>();
    expectTypeOf<RunnerToParent["t"]>().toEqualTypeOf<RunnerMessageKind>();
    expectTypeOf<ProtocolErrorMessage["t"]>().toEqualTypeOf<typeof ERROR_MESSAGE_KIND>();
  });

  it("name the work a request runs: a child is started by child.start", () => {
    type WorkMessageKind = Extract<ParentMessageKind, "call" | "cast" | "child.start">;
    expectTypeOf<WorkKind>().toEqualTypeOf<Exclude<WorkMessageKind, "child.start"> | "child">();
  });

  it("carry errors as one WireError shape", () => {
    type Failed = Extract<RunnerToParent, { t: "result"; ok: false }>;
    expectTypeOf<Failed["error"]>().toEqualTypeOf<WireError>();
  });

  it("give the agent its exit codes", () => {
    expectTypeOf<AgentExit["code"]>().toEqualTypeOf<RunnerExitCode>();
  });
});
