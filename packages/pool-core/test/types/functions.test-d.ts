/**
 * What `defineFunction` infers, and that `pool.call`, `pool.cast` and `pool.placeChild` carry
 * it: the input a function declares is the input a caller must pass, and its output (sync or
 * async) is what the caller gets back.
 */
import {
  defineFunction,
  type FlameFunction,
  type FunctionContext,
  type PlacedChild,
  type Pool,
} from "@flame-ts/pool-core";
import { describe, expectTypeOf, it } from "vitest";

declare const pool: Pool;

const thumbnail = defineFunction("types.thumbnail", async (input: { url: string }, ctx) => {
  expectTypeOf(ctx).toEqualTypeOf<FunctionContext>();
  return { bytes: input.url.length };
});
const double = defineFunction("types.double", (n: number) => n * 2);
const nothing = defineFunction("types.nothing", async (_name: string) => {});

describe("defineFunction", () => {
  it("infers the input from the parameter and unwraps an async output", () => {
    expectTypeOf(thumbnail).toEqualTypeOf<FlameFunction<{ url: string }, { bytes: number }>>();
    expectTypeOf(double).toEqualTypeOf<FlameFunction<number, number>>();
    expectTypeOf(nothing).toEqualTypeOf<FlameFunction<string, void>>();
  });

  it("gives the function its context: signal, deadline, runner id", () => {
    defineFunction("types.ctx", (_input: null, ctx) => {
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(ctx.deadlineMs).toEqualTypeOf<number | null>();
      expectTypeOf(ctx.runnerId).toEqualTypeOf<string>();
      expectTypeOf(ctx.idempotencyKey).toEqualTypeOf<string>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      // @ts-expect-error the context has no such member
      ctx.retry;
    });
  });

  it("takes only a string id and a function", () => {
    // @ts-expect-error the id is a string
    defineFunction(1, (n: number) => n);
    // @ts-expect-error the implementation is a function
    defineFunction("types.not-a-function", 1);
  });
});

describe("pool.call", () => {
  it("returns the function's output", () => {
    expectTypeOf(pool.call(thumbnail, { url: "u" })).toEqualTypeOf<Promise<{ bytes: number }>>();
    expectTypeOf(pool.call(double, 2)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(pool.call(nothing, "x")).toEqualTypeOf<Promise<void>>();
  });

  it("refuses an input the function does not take", () => {
    // @ts-expect-error url is a string
    pool.call(thumbnail, { url: 1 });
    // @ts-expect-error url is required
    pool.call(thumbnail, {});
    // @ts-expect-error a number is not the declared object
    pool.call(thumbnail, 42);
    // @ts-expect-error the input is required
    pool.call(double);
  });

  it("takes its call options (timeout, signal, retry, idempotencyKey), nothing else", () => {
    pool.call(double, 1, { timeout: 5_000, signal: AbortSignal.timeout(1) });
    // @ts-expect-error timeout is a number of ms
    pool.call(double, 1, { timeout: "5s" });
    pool.call(double, 1, { idempotencyKey: "order-42", retry: { runnerDown: 1 } });
    // @ts-expect-error the idempotency key is a string
    pool.call(double, 1, { idempotencyKey: 42 });
    // @ts-expect-error unknown call option
    pool.call(double, 1, { retries: 3 });
  });

  it("refuses what is not a defined function", () => {
    // @ts-expect-error a plain function is not a FlameFunction
    pool.call((n: number) => n, 1);
  });
});

describe("pool.cast", () => {
  it("returns nothing and checks the input the same way", () => {
    expectTypeOf(pool.cast(thumbnail, { url: "u" })).toEqualTypeOf<void>();
    // @ts-expect-error url is a string
    pool.cast(thumbnail, { url: 1 });
  });
});

describe("pool.placeChild", () => {
  it("returns a child whose result is the function's output", async () => {
    const child = await pool.placeChild(thumbnail, { url: "u" });
    expectTypeOf(child).toEqualTypeOf<PlacedChild<{ bytes: number }>>();
    expectTypeOf(child.result).toEqualTypeOf<Promise<{ bytes: number }>>();
    expectTypeOf(child.stop).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(child.runnerId).toEqualTypeOf<string>();
  });

  it("refuses an input the function does not take", () => {
    // @ts-expect-error n is a number
    pool.placeChild(double, "2");
  });
});
