/**
 * The agent loads only pool-core's /protocol and /wire entries: never the host, the link or
 * LocalBackend.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src", import.meta.url));

it("every runner-agent source file imports pool-core only through /protocol or /wire", () => {
  const offenders: string[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".ts")) continue;
    const text = readFileSync(join(src, file), "utf8");
    for (const match of text.matchAll(/from\s+"(@flame-ts\/pool-core[^"]*)"/g)) {
      const entry = match[1];
      if (entry !== "@flame-ts/pool-core/protocol" && entry !== "@flame-ts/pool-core/wire") {
        offenders.push(`${file}: ${entry}`);
      }
    }
  }
  expect(offenders).toEqual([]);
});
