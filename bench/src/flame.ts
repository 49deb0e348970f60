/**
 * The flame-ts side of every bench: a `Pool` on `LocalBackend` whose runners load
 * fixtures/functions.mjs. Everything is imported the way an app would (plain node resolves
 * `@flame-ts/pool-core` to its built dist/), and runners run the built runner-agent.
 */
import { fileURLToPath } from "node:url";
import { LocalBackend, Pool, type PoolOptions } from "@flame-ts/pool-core";
import * as fixtures from "../fixtures/functions.mjs";

export { fixtures, Pool };

/** What a bench chooses; name and backend are the bench's own. */
export type BenchPoolOptions = Omit<PoolOptions, "name" | "backend">;

export const functionsEntry = fileURLToPath(new URL("../fixtures/functions.mjs", import.meta.url));

/**
 * A pool on LocalBackend with the bench's functions; the caller starts and stops it. Its
 * runners get `runnerExecArgv` and `runnerEnv` (added to this process's environment).
 */
export function benchPool(
  name: string,
  options: BenchPoolOptions,
  runnerExecArgv: readonly string[] = [],
  runnerEnv: Readonly<Record<string, string>> = {},
): Pool {
  return new Pool({
    name,
    // The bench itself runs under tsx; its runners load plain .mjs and must not pay for tsx's
    // loader, or cold-start figures would measure tsx.
    backend: new LocalBackend({
      entry: functionsEntry,
      execArgv: [...runnerExecArgv],
      env: runnerEnv,
      inheritLoaders: false,
    }),
    idleShutdownAfter: Number.POSITIVE_INFINITY,
    ...options,
  });
}

/** Runs `body` with a started pool and always stops it (so no runner outlives a bench). */
export async function withPool<T>(
  name: string,
  options: BenchPoolOptions,
  body: (pool: Pool) => Promise<T>,
): Promise<T> {
  const pool = benchPool(name, options);
  try {
    await pool.start();
    return await body(pool);
  } finally {
    await pool.stop();
  }
}
