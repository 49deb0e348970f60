/**
 * Tracked resources in types: a function's result that carries `ctx.track(value)` gives the
 * caller `Tracked<T>` with no annotation, `ctx.get(handle)` gives back `T`, and `on` takes
 * only a handle.
 */
import { defineFunction, type Pool, type Tracked } from "@flame-ts/pool-core";
import { describe, expectTypeOf, it } from "vitest";

declare const pool: Pool;

interface Model {
  run(prompt: string): string;
  close(): void;
}
declare function loadModel(name: string): Model;

const openModel = defineFunction("types.openModel", (name: string, ctx) => {
  const model = loadModel(name);
  return { model: ctx.track(model, (m) => m.close()), name };
});
const infer = defineFunction(
  "types.infer",
  (input: { model: Tracked<Model>; prompt: string }, ctx) => {
    const model = ctx.get(input.model);
    expectTypeOf(model).toEqualTypeOf<Model>();
    return model.run(input.prompt);
  },
);

describe("tracked resources", () => {
  it("the caller gets Tracked<T> where the function returned ctx.track(value)", async () => {
    const { model, name } = await pool.call(openModel, "small");
    expectTypeOf(model).toEqualTypeOf<Tracked<Model>>();
    expectTypeOf(name).toEqualTypeOf<string>();
    expectTypeOf(model.runnerId).toEqualTypeOf<string>();
    expectTypeOf(model.released).toEqualTypeOf<boolean>();
    expectTypeOf(model.release()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(await pool.call(infer, { model, prompt: "hi" }, { on: model })).toBeString();
  });

  it("track takes a dispose of the value's type", () => {
    defineFunction("types.track", (_: null, ctx) => {
      ctx.track(1, (n) => {
        expectTypeOf(n).toEqualTypeOf<number>();
      });
      // @ts-expect-error dispose gets the tracked value, a number here
      ctx.track(1, (s: string) => s.length);
      return null;
    });
  });

  it("on takes only a handle", async () => {
    const { model } = await pool.call(openModel, "small");
    // @ts-expect-error a runner id is not a handle
    pool.call(infer, { model, prompt: "hi" }, { on: "runner-1" });
    // @ts-expect-error a plain object is not a handle
    pool.call(infer, { model, prompt: "hi" }, { on: { id: 1 } });
    // @ts-expect-error a cast is never pinned
    pool.cast(infer, { model, prompt: "hi" }, { on: model });
  });
});
