/**
 * One emulated Machine: Fly's documented states and transitions
 * (https://fly.io/docs/machines/machine-states/) driven by a real local process.
 *
 *   create ─▶ created ─(createMs)─▶ starting ─▶ started ─▶ stopping ─▶ stopped ─▶ (auto_destroy) destroyed
 *   start:   stopped|created ─▶ starting ─(startMs)─▶ started            (a fresh process)
 *   suspend: started ─▶ suspending ─▶ suspended                          (SIGSTOP: memory kept)
 *   start:   suspended ─▶ starting ─(resumeMs)─▶ started                 (SIGCONT: same process)
 *   destroy: stopped|suspended|created (or any state with force) ─▶ destroying ─▶ destroyed
 *
 * A process that exits by itself stops its Machine (restart policy "no"). Latencies are
 * parameters (see server.ts for the defaults and where they come from).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type * as Fly from "./fly-types.js";
import { type ImageSpec, machineArgv } from "./images.js";

/**
 * Fly's documented Machine states (https://fly.io/docs/machines/machine-states/); the
 * description types `Machine.state` as a plain string.
 */
export type MachineState =
  | "created"
  | "started"
  | "stopped"
  | "suspended"
  | "failed"
  | "creating"
  | "starting"
  | "stopping"
  | "restarting"
  | "suspending"
  | "destroying"
  | "launch_failed"
  | "updating"
  | "replacing"
  | "destroyed"
  | "replaced"
  | "migrated";

/** A config the emulator accepted: the description's, with the image it checked is there. */
export type AcceptedConfig = Fly.MachineConfig & { image: string };

/**
 * A Machine as the emulator keeps and answers it: the description's `Machine` (fly-types.ts,
 * generated from fly-openapi.json) with the fields the emulator always sets.
 */
export type EmulatedRecord = Omit<Fly.Machine, "state" | "config" | "events"> &
  Required<
    Pick<
      Fly.Machine,
      "id" | "name" | "region" | "instance_id" | "private_ip" | "created_at" | "updated_at"
    >
  > & { state: MachineState; config: AcceptedConfig; events: EmulatedEvent[] };

/** `MachineEvent.request` is an open object in the description; Fly's docs show an exit's. */
export type EmulatedEvent = Omit<Fly.MachineEvent, "request"> & {
  request?: {
    exit_event?: { exit_code?: number; oom_killed?: boolean; requested_stop?: boolean };
  };
};

/** Emulated latencies, in milliseconds. */
export interface EmulatedLatencyMs {
  /** create → the process starts (image pull, rootfs, placement). */
  readonly createMs: number;
  /** start of a stopped Machine → the process starts. */
  readonly startMs: number;
  /** start of a suspended Machine → the process continues. */
  readonly resumeMs: number;
}

/**
 * Default emulated latencies, from Fly's published figures: a cold start (create) "~2+ seconds
 * for common apps" and a resume from suspend "a few hundred ms"
 * (https://fly.io/docs/reference/suspend-resume/); starting an existing Machine "in about
 * 300ms" (https://fly.io/blog/fly-machines/). They are what the emulator waits, not a claim
 * about Fly: measure your own account (README, "Measuring on your account").
 */
export const FLY_PUBLISHED_LATENCY_MS: EmulatedLatencyMs = {
  createMs: 2_000,
  startMs: 300,
  resumeMs: 300,
};
export const NO_LATENCY_MS: EmulatedLatencyMs = { createMs: 0, startMs: 0, resumeMs: 0 };

export interface Lease {
  readonly nonce: string;
  readonly owner: string;
  readonly description: string;
  readonly expiresAtMs: number;
}

export interface MachineRuntime {
  readonly app: string;
  readonly latency: EmulatedLatencyMs;
  /** Env Fly injects into every Machine of the app: its secrets. */
  readonly secrets: Readonly<Record<string, string>>;
  readonly defaultStopTimeoutMs: number;
}

export class EmulatedMachine {
  readonly machine: EmulatedRecord;
  readonly app: string;
  readonly stderrTail: string[] = [];
  readonly stateWaiters = new Set<() => void>();
  /** Every state this Machine went through, in order (for tests). */
  readonly history: MachineState[] = [];
  lease: Lease | undefined;
  #image: ImageSpec;
  #child: ChildProcess | undefined;
  #pending: NodeJS.Timeout | undefined;
  readonly #runtime: MachineRuntime;

  constructor(machine: EmulatedRecord, image: ImageSpec, runtime: MachineRuntime) {
    this.machine = machine;
    this.app = runtime.app;
    this.#image = image;
    this.#runtime = runtime;
    this.history.push(machine.state);
  }

  get state(): MachineState {
    return this.machine.state;
  }

  /** Pid while the process exists (running or frozen). */
  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  leaseHeld(nowMs = Date.now()): Lease | undefined {
    return this.lease && this.lease.expiresAtMs > nowMs ? this.lease : undefined;
  }

  /** After create: starts the process once the emulated create latency has passed. */
  launchAfterCreate(): void {
    this.#pending = setTimeout(() => this.#spawn(), this.#runtime.latency.createMs);
  }

  /** `start`: a fresh process for stopped/created, the frozen one for suspended. */
  start(): string | undefined {
    if (this.state === "suspended") {
      this.#set("starting", "start");
      this.#pending = setTimeout(() => {
        this.#child?.kill("SIGCONT");
        this.#set("started", "resume");
      }, this.#runtime.latency.resumeMs);
      return undefined;
    }
    if (this.state !== "stopped" && this.state !== "created")
      return `failed_precondition: machine is ${this.state}, only a stopped, created or suspended machine can be started`;
    this.#set("starting", "start");
    this.#pending = setTimeout(() => this.#spawn(), this.#runtime.latency.startMs);
    return undefined;
  }

  stop(signal: NodeJS.Signals, killAfterMs: number | undefined): void {
    clearTimeout(this.#pending);
    const child = this.#child;
    if (!child || this.pid === undefined) {
      if (this.state === "starting" || this.state === "created") this.#stopped(null, null);
      return;
    }
    const frozen = this.state === "suspended";
    this.#set("stopping", "stop");
    if (frozen) {
      // Stopping a suspended Machine discards its snapshot: nothing runs to be signalled.
      child.kill("SIGKILL");
      return;
    }
    child.kill(signal);
    const timer = setTimeout(
      () => child.kill("SIGKILL"),
      killAfterMs ?? this.#runtime.defaultStopTimeoutMs,
    );
    child.once("exit", () => clearTimeout(timer));
  }

  suspend(): string | undefined {
    if (this.state !== "started" || this.pid === undefined)
      return `failed_precondition: machine is ${this.state}, only a started machine can be suspended`;
    this.#set("suspending", "suspend");
    const pid = this.pid;
    this.#child?.kill("SIGSTOP");
    // "suspended" only once the kernel has really frozen the process (signals are async).
    const settle = () => {
      if (this.state !== "suspending") return;
      if (pid === undefined || isFrozen(pid)) this.#set("suspended", "suspend");
      else setTimeout(settle, 5);
    };
    settle();
    return undefined;
  }

  /** Resolves once destroyed (the process, if any, really gone). */
  destroy(): Promise<void> {
    clearTimeout(this.#pending);
    this.#set("destroying", "destroy");
    const child = this.#child;
    if (!child || this.pid === undefined) {
      this.#set("destroyed", "destroy");
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }

  /** Replaces the config (a new version) of a stopped/created Machine. */
  update(config: AcceptedConfig, image: ImageSpec): void {
    this.#image = image;
    this.machine.config = structuredClone(config);
    this.machine.instance_id = newInstanceId();
    this.#touch("update", this.state);
  }

  kill(): void {
    this.#child?.kill("SIGKILL");
  }

  #spawn(): void {
    if (this.state === "destroyed" || this.state === "destroying") return;
    if (this.state === "created") this.#set("starting", "launch");
    const { machine } = this;
    const argv = machineArgv(this.#image, machine.config.init);
    // A Machine sees the app's secrets, its config env and Fly's runtime variables, never the
    // emulator's own env (https://fly.io/docs/machines/runtime-environment/).
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...this.#runtime.secrets,
      ...machine.config.env,
      FLY_APP_NAME: this.app,
      FLY_MACHINE_ID: machine.id,
      FLY_ALLOC_ID: machine.id,
      FLY_REGION: machine.region,
      FLY_PRIVATE_IP: machine.private_ip,
      FLY_IMAGE_REF: machine.config.image,
      FLY_MACHINE_VERSION: machine.instance_id,
      FLY_VM_MEMORY_MB: String(machine.config.guest?.memory_mb ?? 256),
    };
    const [command, ...args] = argv;
    if (command === undefined) {
      this.stderrTail.push("emulator: no command (empty ENTRYPOINT, CMD and init)");
      this.#stopped(127, null);
      return;
    }
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") this.stderrTail.push(line);
      if (this.stderrTail.length > 50) this.stderrTail.splice(0, this.stderrTail.length - 50);
    });
    child.once("spawn", () => this.#set("started", "start"));
    child.once("error", (error) => {
      this.stderrTail.push(`emulator: failed to start: ${error.message}`);
      this.#stopped(127, null);
    });
    // "close", not "exit": the process's last stderr lines (the agent's `flame-runner: <reason>`)
    // can still be in the pipe at "exit". Reporting the Machine stopped before reading them made
    // the parent-SIGKILL test see an older line about one run in five.
    child.once("close", (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      if (this.state === "destroying") return this.#set("destroyed", "destroy");
      this.#stopped(code, signal);
    });
  }

  #stopped(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.state === "destroyed" || this.state === "stopped") return;
    this.machine.events?.unshift({
      type: "exit",
      status: "stopped",
      source: "flyd",
      timestamp: Date.now(),
      request: {
        exit_event: {
          exit_code: code ?? (signal === "SIGKILL" ? 137 : 143),
          requested_stop: this.state === "stopping",
        },
      },
    });
    this.#set("stopped", "exit", false);
    // restart.policy "no" never restarts; auto_destroy removes the Machine once it stops.
    if (this.machine.config.auto_destroy === true) {
      this.#set("destroying", "destroy");
      this.#set("destroyed", "destroy");
    }
  }

  #set(state: MachineState, event: string, withEvent = true): void {
    if (this.state === "destroyed") return;
    this.machine.state = state;
    this.history.push(state);
    this.#touch(withEvent ? event : undefined, state);
  }

  #touch(event: string | undefined, status: MachineState): void {
    this.machine.updated_at = new Date().toISOString();
    if (event)
      this.machine.events?.unshift({ type: event, status, source: "flyd", timestamp: Date.now() });
    if ((this.machine.events?.length ?? 0) > 30) this.machine.events?.splice(30);
    for (const waiter of [...this.stateWaiters]) waiter();
  }
}

export function newInstanceId(): string {
  return randomBytes(13).toString("hex").toUpperCase();
}

/** Linux: is the process stopped (state T)? Elsewhere: assume the SIGSTOP took effect. */
function isFrozen(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("T") ?? true;
  } catch {
    return true;
  }
}
