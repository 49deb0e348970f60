/**
 * `FlameError.code` is exactly the documented codes (README "Error codes"), and code checks
 * narrow: a `switch` over it can be exhaustive, and `isFlameError(e, code)` narrows `e`.
 */
import {
  type FLAME_ERROR_CODES,
  FlameError,
  type FlameErrorCode,
  isFlameError,
  type RemoteErrorInfo,
} from "@flame-ts/pool-core";
import { describe, expectTypeOf, it } from "vitest";

type Documented =
  | "TIMEOUT"
  | "RUNNER_DOWN"
  | "REMOTE_ERROR"
  | "BOOT_FAILED"
  | "POOL_STOPPED"
  | "INVALID_OPTIONS"
  | "UNKNOWN_FUNCTION"
  | "SERIALIZATION"
  | "ABORTED"
  | "UNAUTHORIZED"
  | "PROTOCOL"
  | "OVERLOADED"
  | "BUDGET_EXHAUSTED"
  | "RESOURCE_GONE";

describe("FlameError codes", () => {
  it("are the documented union, listed at runtime in FLAME_ERROR_CODES", () => {
    expectTypeOf<FlameErrorCode>().toEqualTypeOf<Documented>();
    expectTypeOf<FlameError["code"]>().toEqualTypeOf<Documented>();
    expectTypeOf<(typeof FLAME_ERROR_CODES)[number]>().toEqualTypeOf<Documented>();
  });

  it("only a documented code constructs an error", () => {
    new FlameError("TIMEOUT", "late");
    // @ts-expect-error not a documented code
    new FlameError("TIMED_OUT", "late");
  });

  it("narrow in a switch, which can be exhaustive", () => {
    const describe = (error: FlameError): string => {
      switch (error.code) {
        case "REMOTE_ERROR":
          expectTypeOf(error.code).toEqualTypeOf<"REMOTE_ERROR">();
          return error.remote?.message ?? "";
        case "TIMEOUT":
        case "RUNNER_DOWN":
        case "BOOT_FAILED":
        case "POOL_STOPPED":
        case "INVALID_OPTIONS":
        case "UNKNOWN_FUNCTION":
        case "SERIALIZATION":
        case "ABORTED":
        case "UNAUTHORIZED":
        case "PROTOCOL":
        case "OVERLOADED":
        case "BUDGET_EXHAUSTED":
        case "RESOURCE_GONE":
          return error.code;
        default:
          expectTypeOf(error.code).toBeNever();
          return error.code;
      }
    };
    expectTypeOf(describe).returns.toBeString();
  });

  it("isFlameError narrows an unknown to a FlameError with that code", () => {
    const caught: unknown = new Error("x");
    if (isFlameError(caught)) {
      expectTypeOf(caught).toEqualTypeOf<FlameError>();
      expectTypeOf(caught.code).toEqualTypeOf<FlameErrorCode>();
    }
    if (isFlameError(caught, "REMOTE_ERROR")) {
      expectTypeOf(caught.code).toEqualTypeOf<"REMOTE_ERROR">();
      expectTypeOf(caught.remote).toEqualTypeOf<RemoteErrorInfo | undefined>();
      expectTypeOf(caught.permanent).toEqualTypeOf<boolean>();
    }
    // @ts-expect-error not a documented code
    isFlameError(caught, "NOPE");
  });
});
