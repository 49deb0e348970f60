// The app's functions: imported by the app, loaded by every runner.
import { defineFunction } from "@flame-ts/pool-core";

export const wordCount = defineFunction(
  "outside.wordCount",
  (text: string) => text.split(/\s+/).filter((word) => word.length > 0).length,
);

export interface RunnerFacts {
  readonly pid: number;
  readonly uid: number;
  readonly cwd: string;
  readonly node: string;
  readonly runnerId: string;
}

export const whereAmI = defineFunction(
  "outside.whereAmI",
  (_input: null, ctx): RunnerFacts => ({
    pid: process.pid,
    uid: process.getuid?.() ?? -1,
    cwd: process.cwd(),
    node: process.version,
    runnerId: ctx.runnerId,
  }),
);
