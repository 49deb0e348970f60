/**
 * After `next build`: makes `.next/standalone` complete on its own (Next leaves the static
 * assets out), and replaces its symlinks (Turbopack links external packages such as `ws`
 * under hashed names) with copies, because `npm pack` leaves symlinks out. The
 * `flame-dashboard` bin starts its `server.js` in-process.
 */
import { cpSync, existsSync, lstatSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
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
let copied = 0;
const dereference = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) {
      const target = realpathSync(path);
      rmSync(path);
      cpSync(target, path, { recursive: true, dereference: true });
      copied += 1;
    } else if (stat.isDirectory()) {
      dereference(path);
    }
  }
};
dereference(standalone);
console.log(`finish-standalone: ${app}server.js ready (${copied} symlink(s) copied)`);
