// A parent process for the "parent SIGKILL" test: boots `min` Docker runners, prints their
// container ids as one JSON line on stdout, then waits to be killed. Plain node on dist/.

import { DockerBackend } from "@flame-ts/backend-docker";
import { Pool } from "@flame-ts/pool-core";

const [image, entry, runLabel, runTag, min, failsafeMs] = process.argv.slice(2);
const pool = new Pool({
  name: "sigkill",
  min: Number(min),
  max: Number(min),
  failsafeTimeout: Number(failsafeMs),
  bootTimeout: 60_000,
  backend: new DockerBackend({
    image,
    env: { FLAME_ENTRY: entry },
    labels: { [runLabel]: runTag },
  }),
});
await pool.start();
const containers = pool.snapshot().runners.map((r) => r.meta.containerId);
process.stdout.write(`${JSON.stringify({ containers })}\n`);
setInterval(() => {}, 60_000);
