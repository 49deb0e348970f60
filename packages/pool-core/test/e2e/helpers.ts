import { onTestFinished } from "vitest";
import { isFlameError, LocalBackend, Pool, type PoolOptions } from "../../src/index.js";

export const fixtureEntry = new URL("../fixtures/functions.mjs", import.meta.url);

/**
 * A pool on LocalBackend running the fixture functions (or those of `entry`); stopped when
 * the test ends.
 */
export function localPool(options: Partial<PoolOptions> & { entry?: URL } = {}): Pool {
  const { entry = fixtureEntry, ...poolOptions } = options;
  const pool = new Pool({
    name: "e2e",
    max: 2,
    backend: new LocalBackend({ entry }),
    shutdownTimeout: 5_000,
    ...poolOptions,
  });
  onTestFinished(() => pool.stop());
  return pool;
}

/** The FlameError code a promise rejects with ("ok" if it resolves). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return isFlameError(error) ? error.code : `not a FlameError: ${String(error)}`;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
