/**
 * The seam between a pool and the place its runners live (ARCHITECTURE.md, "Backends").
 * A backend starts a runner-agent that dials `env.FLAME_PARENT`; the pool's host waits for
 * the agent's hello. The boot deadline covers both the backend's own work and that hello, so
 * a backend must give up (and clean up what it started) when `signal` aborts.
 */
import type { LogFn } from "./options/index.js";

export interface Backend {
  /** Short name for logs and telemetry, e.g. "local", "docker", "fly". */
  readonly name: string;
  boot(req: BootRequest): Promise<BootedRunner>;
  /**
   * The address the pool's runner port must be bound to for this backend's runners to reach
   * it, asked once before the pool first listens, and only when the pool's `listen.host` was
   * not given. `null` keeps the default (127.0.0.1). DockerBackend, on the bridge network it
   * creates, answers with that bridge's gateway: its runners reach the port, and a runner
   * reaches nothing on the host's loopback. A rejection fails that boot (with the rejection's
   * message, permanent if it is a permanent FlameError); the next boot asks again.
   */
  listenHost?(): Promise<string | null>;
}

export interface BootRequest {
  /** Unique across every pool and every parent instance; backends put it in labels/names. */
  readonly runnerId: string;
  /** The pool the runner belongs to (for labels and metadata). */
  readonly poolName: string;
  /** The parent's instance id (one per process hosting pools), for orphan reaping. */
  readonly parentId: string;
  /** Environment for the runner-agent. Always has FLAME_PARENT. */
  readonly env: Record<string, string>;
  /** Aborted when the boot deadline passes or the pool stops; clean up and reject. */
  readonly signal: AbortSignal;
  /** Absolute wall-clock deadline (epoch ms) for the whole boot including the hello. */
  readonly deadlineMs: number;
  /**
   * The pool's `log` option, resolved: where a backend sends what its runner prints (LocalBackend
   * does, line by line). Optional so that hand-written callers of `boot` need not pass it.
   */
  readonly log?: LogFn;
}

export interface BootedRunner {
  /** Backend facts shown in snapshots and the dashboard (pid, container id, machine id, …). */
  readonly meta: Record<string, string>;
  /**
   * Forcefully end the runner (kill the process, remove the container, destroy the machine).
   * The host calls it after the agent was asked to drain and `shutdownTimeout` has passed, or
   * when the agent never said hello. Idempotent; resolves when the runner is gone.
   */
  stop(): Promise<void>;
  /** Settles once when the runner is gone for any reason. Never rejects. */
  readonly exited: Promise<RunnerExit>;
}

export interface RunnerExit {
  readonly code: number | null;
  readonly reason: string;
}
