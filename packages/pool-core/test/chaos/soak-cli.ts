/**
 * `npm run soak [-- --seed N --minutes M --verbose]`: the LocalBackend chaos soak for
 * minutes instead of CI's seconds, figures printed; exits 1 on any violation, with the seed
 * to replay. Runners run the built packages: run `npm run build` first.
 */
import { parseArgs } from "node:util";
import { localSoak } from "./local-chaos.js";
import { formatFigures, seedFromEnv } from "./soak.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    minutes: { type: "string", default: "3" },
    verbose: { type: "boolean", default: false },
  },
});
const seed = values.seed === undefined ? seedFromEnv() : Number(values.seed) >>> 0;
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`--minutes must be a positive number, got ${values.minutes}`);
  process.exit(2);
}
console.log(`local chaos soak: SEED=${seed}, ${minutes} min of load`);
const figures = await localSoak({
  seed,
  loadMs: minutes * 60_000,
  verbose: values.verbose,
  progressEveryMs: 15_000,
});
console.log(
  formatFigures("local soak", figures, `npm run soak -- --seed ${seed} --minutes ${minutes}`),
);
process.exit(figures.violations.length === 0 ? 0 : 1);
