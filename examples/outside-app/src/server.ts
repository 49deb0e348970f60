// The app: one pool, a few calls, one JSON line on stdout, then it stops the pool and exits.
// FLAME_BACKEND=docker runs the runners as containers of APP_IMAGE (labelled with the JSON
// object in APP_LABELS); anything else runs them as local processes.
import { DockerBackend } from "@flame-ts/backend-docker";
import { type Backend, LocalBackend, Pool } from "@flame-ts/pool-core";
import { whereAmI, wordCount } from "./functions.js";

function backend(): Backend {
  if (process.env.FLAME_BACKEND !== "docker") {
    return new LocalBackend({ entry: new URL("./functions.js", import.meta.url) });
  }
  const image = process.env.APP_IMAGE;
  if (image === undefined) throw new Error("FLAME_BACKEND=docker needs APP_IMAGE");
  const labels = JSON.parse(process.env.APP_LABELS ?? "{}") as Record<string, string>;
  return new DockerBackend({ image, labels });
}

const pool = new Pool({ name: "outside-app", max: 2, bootTimeout: 60_000, backend: backend() });
try {
  const texts = ["one two", "three four five", "six"];
  const counts = await Promise.all(texts.map((t) => pool.call(wordCount, t, { timeout: 60_000 })));
  const runner = await pool.call(whereAmI, null, { timeout: 60_000 });
  const app = { pid: process.pid, uid: process.getuid?.() ?? -1 };
  process.stdout.write(`${JSON.stringify({ app, counts, runner })}\n`);
} finally {
  await pool.stop();
}
