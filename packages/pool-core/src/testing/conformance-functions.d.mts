import type { FlameFunction } from "../functions.js";
import type { Tracked } from "../tracked/types.js";

export declare const echo: FlameFunction<unknown, unknown>;
export declare const runnerInfo: FlameFunction<unknown, { runnerId: string; pid: number }>;
export declare const hold: FlameFunction<unknown, string>;

interface Counted {
  readonly name: string;
  uses: number;
}
export declare const openPair: FlameFunction<
  { name: string },
  { a: Tracked<Counted>; b: Tracked<Counted> }
>;
export declare const openOne: FlameFunction<{ name: string }, Tracked<Counted>>;
export declare const use: FlameFunction<null, { name: string; uses: number; runnerId: string }>;
export declare const disposedNames: FlameFunction<{ handle: Tracked<Counted> }, string[]>;
