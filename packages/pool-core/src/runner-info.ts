/**
 * The runner's own view (FLAME's `FLAME.Parent.get()`): `runnerInfo()` tells code that runs in
 * both the app and its runners (single-image deploys) which one it is, so a runner can leave
 * out what only the app must run (its HTTP server, its cron jobs).
 *
 * The parent's host puts the facts in the runner's environment at boot (`runnerInfoEnv`), next
 * to the descriptor: unlike the descriptor they hold no secret, so the agent leaves them where
 * worker threads and the function module can read them. How it travels is an implementation
 * detail (as FLAME_RUNNER is): the API is `runnerInfo()`.
 */
import { hostname } from "node:os";

/** What a runner knows about itself; see `runnerInfo()`. */
export interface RunnerInfo {
  /** The pool that booted this runner (its `name` option). */
  readonly pool: string;
  /** This runner's id, as in the pool's snapshot, events and `ctx.runnerId`. */
  readonly runnerId: string;
  /** The name of the backend that booted it ("local", "docker", "fly", "kubernetes", …). */
  readonly backend: string;
  /** The parent app that owns the pool. */
  readonly parent: {
    /** The parent instance's id (`parentId` on its side; backends label runners with it). */
    readonly id: string;
    /** The URL this runner dialled. */
    readonly url: string;
    /** The parent's host name and process id, for logs. */
    readonly hostname: string;
    readonly pid: number;
  };
}

/** The environment variable the host sets at boot; an implementation detail. */
const INFO_ENV = "FLAME_RUNNER_INFO";

/** The environment entry a backend passes to runner `runnerId` (added to its boot env). */
export function runnerInfoEnv(
  info: Omit<RunnerInfo, "parent"> & { readonly parentId: string; readonly parentUrl: string },
): Record<string, string> {
  const value: RunnerInfo = {
    pool: info.pool,
    runnerId: info.runnerId,
    backend: info.backend,
    parent: { id: info.parentId, url: info.parentUrl, hostname: hostname(), pid: process.pid },
  };
  return { [INFO_ENV]: JSON.stringify(value) };
}

let cached: { readonly raw: string | undefined; readonly info: RunnerInfo | null } | undefined;

/**
 * `null` in a parent (any process a pool's backend did not start), the runner's facts in a
 * runner: in the function module, in its worker threads, and in an app module started in
 * single-image mode (`flame-runner --app`). Cheap to call often (parsed once).
 *
 * ```ts
 * if (runnerInfo() === null) server.listen(8080); // only the app serves HTTP
 * ```
 */
export function runnerInfo(env: NodeJS.ProcessEnv = process.env): RunnerInfo | null {
  const raw = env[INFO_ENV];
  if (cached !== undefined && cached.raw === raw) return cached.info;
  const info = raw === undefined || raw === "" ? null : parseInfo(raw);
  cached = { raw, info };
  return info;
}

/** A value that is not what the host wrote (edited by hand, truncated) counts as absent. */
function parseInfo(raw: string): RunnerInfo | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isRecord(value) || !isRecord(value.parent)) return null;
  const { pool, runnerId, backend, parent } = value;
  if (typeof pool !== "string" || typeof runnerId !== "string" || typeof backend !== "string") {
    return null;
  }
  const { id, url, hostname: host, pid } = parent;
  if (typeof id !== "string" || typeof url !== "string" || typeof host !== "string") return null;
  if (typeof pid !== "number") return null;
  return Object.freeze({
    pool,
    runnerId,
    backend,
    parent: Object.freeze({ id, url, hostname: host, pid }),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
