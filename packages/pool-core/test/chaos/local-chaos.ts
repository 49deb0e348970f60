/**
 * The chaos soak on LocalBackend: runner processes dial the pool through a FaultProxy
 * (`listen.advertiseUrl`), and the faults are the ones a host and its network produce —
 * SIGKILL, SIGSTOP…SIGCONT (a frozen VM, a swapped-out process), a delayed, blackholed or
 * reset link, and a stall of the parent's own event loop. Shared by the CI test
 * (local-soak.test.ts) and `npm run soak` (soak-cli.ts); only the durations differ.
 */
import { LocalBackend, Pool } from "@flame-ts/pool-core";
import type { Prng } from "../sim/prng.js";
import { FaultProxy, freePort } from "./fault-proxy.js";
import { carriesNonce, linkFaults, parentStall } from "./faults.js";
import { echo, spin } from "./fixtures/chaos-functions.mjs";
import { RecordingBackend } from "./recording-backend.js";
import { type FaultKind, type PlannedCall, runSoak, type SoakFigures } from "./soak.js";

export interface LocalSoakOptions {
  readonly seed: number;
  readonly loadMs: number;
  /** Runner log lines and pool warnings to stderr. */
  readonly verbose?: boolean;
  /** Prints a progress line (figures so far, the pool's shape) this often. */
  readonly progressEveryMs?: number;
}

const entry = new URL("./fixtures/chaos-functions.mjs", import.meta.url);

/** Heartbeat thresholds for both ends: a blackholed link is dropped within ~1.7 s. */
const HEARTBEAT = { intervalMs: 200, timeoutMs: 1_500 } as const;
/** How long a function that ignores its signal may run past its deadline. */
const TERMINATE_GRACE_MS = 500;
/**
 * The grace a caller may wait past its deadline: when the runner cannot answer TIMEOUT
 * itself (frozen, link held or blackholed), the parent's backstop answers for it this long
 * after the deadline (the runner link's `deadlineGraceMs`, 1,000 ms, not a pool option).
 */
const PARENT_BACKSTOP_MS = 1_000;
/** The longest parent stall injected; kept under the heartbeat timeout, as the contract sizes it. */
const MAX_STALL_MS = 700;
/**
 * Slack on top of deadline + grace before a call counts as hung. The pool answers TIMEOUT at
 * the deadline (or its backstop, one grace later), so on an idle machine a call settles
 * within a few ms of that; the slack absorbs timer lateness on a loaded shared CI machine
 * (2 cores, other suites running) plus the longest stall this soak injects into the
 * parent's own loop. Generous on purpose: the
 * soak hunts calls that never settle or settle seconds late, not jitter.
 */
const SLACK_MS = 3_000 + MAX_STALL_MS;
const MIN_RUNNERS = 1;
const BOOT_TIMEOUT_MS = 5_000;

export async function localSoak(options: LocalSoakOptions): Promise<SoakFigures> {
  const port = await freePort();
  const proxy = await FaultProxy.start(port);
  const backend = new RecordingBackend(
    new LocalBackend({
      entry,
      killAfterMs: 1_000,
      // The entry is plain .mjs: runners need none of the parent's loaders (tsx, vitest's).
      inheritLoaders: false,
    }),
  );
  const pool = new Pool({
    name: "chaos",
    min: MIN_RUNNERS,
    max: 4,
    maxConcurrency: 16,
    backend,
    bootTimeout: BOOT_TIMEOUT_MS,
    shutdownTimeout: 2_000,
    idleShutdownAfter: 1_000,
    heartbeat: HEARTBEAT,
    execution: { terminateGraceMs: TERMINATE_GRACE_MS },
    listen: { port, advertiseUrl: `ws://127.0.0.1:${proxy.port}` },
    log: options.verbose === true ? "warn" : false,
  });

  const frozen = new Map<number, Promise<void>>();
  const livePids = () =>
    backend
      .live()
      .map((r) => Number(r.meta.pid))
      .filter((pid) => Number.isInteger(pid) && pid > 0 && !frozen.has(pid));
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
      return true;
    } catch {
      return false; // already gone: a race with its own exit, not a fault injected
    }
  };
  const faults: FaultKind[] = [
    {
      kind: "sigkill",
      weight: 2,
      inject: (rng) => {
        const pids = livePids();
        return pids.length > 0 && signal(rng.pick(pids), "SIGKILL");
      },
    },
    {
      kind: "freeze",
      weight: 2,
      inject: (rng) => {
        const pids = livePids();
        if (pids.length === 0) return false;
        const pid = rng.pick(pids);
        // Short freezes pass unnoticed; long ones outlast the heartbeat and lose the link.
        const holdMs = rng.chance(0.5) ? rng.int(50, 800) : rng.int(1_500, 3_000);
        if (!signal(pid, "SIGSTOP")) return false;
        frozen.set(
          pid,
          new Promise<void>((resolve) =>
            setTimeout(() => {
              signal(pid, "SIGCONT");
              frozen.delete(pid);
              resolve();
            }, holdMs),
          ),
        );
        return true;
      },
    },
    ...linkFaults(proxy),
    parentStall(MAX_STALL_MS),
  ];

  try {
    await pool.start();
    return await runSoak({
      seed: options.seed,
      pool,
      loadMs: options.loadMs,
      planCall,
      burstSize: [1, 12],
      burstGapMs: [20, 400],
      faults,
      faultGapMs: [150, 600],
      settleFaults: async () => {
        await Promise.all(frozen.values());
      },
      min: MIN_RUNNERS,
      bootTimeoutMs: BOOT_TIMEOUT_MS,
      graceMs: PARENT_BACKSTOP_MS,
      slackMs: SLACK_MS,
      convergeBoundMs: 20_000,
      ...(options.progressEveryMs === undefined
        ? {}
        : {
            progress: {
              everyMs: options.progressEveryMs,
              print: (line: string) => console.log(line),
            },
          }),
      healthCheck: async () => {
        const out = await pool.call(echo, { nonce: -1, delayMs: 0 }, { timeout: 10_000 });
        return out.nonce === -1;
      },
      leftovers: {
        atStop: async () =>
          backend.runners
            .map((r) => Number(r.meta.pid))
            .filter((pid) => isAlive(pid))
            .map((pid) => `runner process ${pid}`),
        eventually: async () => proxy.links().map((link) => `open link #${link.id}`),
      },
    });
  } finally {
    for (const pid of frozen.keys()) signal(pid, "SIGCONT");
    await pool.stop().catch(() => {});
    await proxy.close();
  }
}

/**
 * Mostly quick echoes; some slow enough to outlast their timeout (TIMEOUT by design); a few
 * CPU spins that ignore their signal, some past their deadline (the runner's terminator).
 */
function planCall(rng: Prng, nonce: number): PlannedCall {
  const timeoutMs = rng.int(300, 3_000);
  const isRight = carriesNonce(nonce);
  if (rng.chance(0.06)) {
    const ms = rng.chance(0.3) ? rng.int(1_000, 2_500) : rng.int(10, 120);
    return { fn: spin, input: { nonce, ms }, timeoutMs, isRight };
  }
  const delayMs = rng.chance(0.1) ? rng.int(500, 4_000) : rng.int(0, 150);
  return { fn: echo, input: { nonce, delayMs }, timeoutMs, isRight };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
