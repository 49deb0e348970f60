/**
 * After `next build`: makes `.next/standalone` complete on its own (Next leaves the static
 * assets out). The `flame-dashboard` bin starts its `server.js` in-process.
 */
import { cpSync, existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
const standalone = `${here}.next/standalone/`;
const app = [`${standalone}apps/dashboard/`, standalone].find((dir) =>
  existsSync(`${dir}server.js`),
);
if (app === undefined) {
  console.error(
    "finish-standalone: .next/standalone/**/server.js not found; did `next build` run with output: standalone?",
  );
  process.exit(1);
}
rmSync(`${app}.next/static`, { recursive: true, force: true });
cpSync(`${here}.next/static`, `${app}.next/static`, { recursive: true });
if (existsSync(`${here}public`)) cpSync(`${here}public`, `${app}public`, { recursive: true });
console.log(`finish-standalone: ${app}server.js ready`);
