/**
 * One booted runner container: its `exited` promise and its forced `stop()`.
 *
 * `exited` settles only once the container has really stopped running (or is gone). The
 * Docker wait API is a long-lived HTTP stream; when it breaks (daemon restart, a proxy's idle
 * timeout, a reset socket) that says nothing about the container, which may well still run
 * and hold a live link to the pool. So a failed wait re-inspects the container and, if it
 * still runs, waits again (backing off while the daemon cannot be reached): the pool never
 * forgets a container that may still be running.
 */
import type { BootedRunner, RunnerExit } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import { dockerMessage, dockerStatus, isGoneOrBusy } from "./docker-errors.js";
import type { LogTail } from "./log-tail.js";

/** After a kill, how long `stop()` waits for the daemon to report the exit before giving up. */
const STOP_CONFIRM_TIMEOUT_MS = 15_000;
/** Backoff between attempts to re-watch a container after its wait stream failed. */
const REWATCH_FIRST_DELAY_MS = 100;
const REWATCH_MAX_DELAY_MS = 5_000;

export type WaitResult = { StatusCode?: number; Error?: { Message?: string } | null };

export class DockerRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly #container: Dockerode.Container;
  readonly #autoRemove: boolean;
  #stopRequested = false;
  #stopping: Promise<void> | null = null;

  constructor(
    container: Dockerode.Container,
    facts: { readonly name: string; readonly image: string; readonly autoRemove: boolean },
    waited: Promise<WaitResult>,
    logs: LogTail,
  ) {
    this.#container = container;
    this.#autoRemove = facts.autoRemove;
    this.meta = {
      containerId: container.id.slice(0, 12),
      containerName: facts.name,
      image: facts.image,
    };
    this.exited = this.#watchExit(waited).then(({ code, note }) => ({
      code,
      reason: this.#describeExit(code, note, logs.lines()),
    }));
    // The log stream ends with the container; closing makes sure no socket outlives it.
    void this.exited.then(() => logs.close());
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    // The host already asked the agent to drain; whatever is still there is killed.
    const removeOptions = { force: true, v: true };
    try {
      if (this.#autoRemove) await this.#container.kill();
      else await this.#container.remove(removeOptions);
    } catch (error) {
      if (!isGoneOrBusy(error)) {
        // Killing failed for another reason (daemon trouble): try a forced remove once.
        await this.#container.remove(removeOptions).catch(() => {});
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_CONFIRM_TIMEOUT_MS);
      timer.unref();
    });
    await Promise.race([this.exited.then(() => {}), timedOut]);
    clearTimeout(timer);
  }

  /** Resolves with the exit code once the container no longer runs; never on a broken stream alone. */
  async #watchExit(waited: Promise<WaitResult>): Promise<{ code: number | null; note: string }> {
    let waiting = waited;
    let failures = 0;
    for (;;) {
      try {
        const result = await waiting;
        return { code: typeof result.StatusCode === "number" ? result.StatusCode : null, note: "" };
      } catch (waitError) {
        failures++;
        const state = await this.#inspectState();
        if (state.kind === "gone") {
          return {
            code: null,
            note: ` (the wait stream failed: ${dockerMessage(waitError)}; the container is gone)`,
          };
        }
        if (state.kind === "stopped") return { code: state.exitCode, note: "" };
        // Still running, or the daemon can't say: watch again after a pause.
        const delayMs = Math.min(
          REWATCH_FIRST_DELAY_MS * 2 ** (failures - 1),
          REWATCH_MAX_DELAY_MS,
        );
        await unrefDelay(delayMs);
        // "not-running" returns at once if it stopped meanwhile (unlike "next-exit").
        waiting = this.#container.wait({ condition: "not-running" });
      }
    }
  }

  async #inspectState(): Promise<
    | { kind: "gone" }
    | { kind: "stopped"; exitCode: number | null }
    | { kind: "running" }
    | { kind: "unknown" }
  > {
    try {
      const info = await this.#container.inspect();
      const state = info.State;
      if (state.Running || state.Paused || state.Restarting) return { kind: "running" };
      return {
        kind: "stopped",
        exitCode: typeof state.ExitCode === "number" ? state.ExitCode : null,
      };
    } catch (error) {
      return dockerStatus(error) === 404 ? { kind: "gone" } : { kind: "unknown" };
    }
  }

  #describeExit(code: number | null, note: string, lines: string[]): string {
    if (this.#stopRequested)
      return `container stopped by the pool (exit code ${String(code)})${note}`;
    return `container exited with code ${String(code)}${note}${formatLogs(lines)}`;
  }
}

function formatLogs(lines: string[]): string {
  return lines.length === 0 ? " (no output)" : `; last log lines:\n${lines.join("\n")}`;
}

function unrefDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
