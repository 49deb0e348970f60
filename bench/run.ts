/**
 * `npm run bench` (issue 7): runs the six benches, prints every figure with its baseline,
 * ratio and goal, and writes the report as JSON (default bench/results/latest.json).
 *
 *   tsx run.ts [--smoke] [--only call-path,piscina] [--out path.json]
 *
 * Exits 1 when a bench could not run (unmet goals are reported, not an error).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatTable } from "./src/report.js";
import { runSuite } from "./src/suite.js";

const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string" },
  },
});

const out = resolve(values.out ?? fileURLToPath(new URL("./results/latest.json", import.meta.url)));
const report = await runSuite({
  mode: values.smoke ? "smoke" : "full",
  only: values.only ? values.only.split(",").map((name) => name.trim()) : [],
  onBenchDone: (name, seconds, failure) =>
    process.stderr.write(
      `bench ${name}: ${failure ? "FAILED" : "done"} in ${seconds.toFixed(1)} s\n`,
    ),
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${formatTable(report)}\nreport: ${out}\n`);
process.exitCode = report.failures.length > 0 ? 1 : 0;
