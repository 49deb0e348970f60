import type { FlameFunction } from "../functions.js";

export declare const echo: FlameFunction<unknown, unknown>;
export declare const runnerInfo: FlameFunction<unknown, { runnerId: string; pid: number }>;
export declare const hold: FlameFunction<unknown, string>;
