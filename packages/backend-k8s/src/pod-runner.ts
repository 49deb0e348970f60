/**
 * One runner pod, followed through the backend's shared watch from its creation to its end:
 * `started` settles when the runner container runs (or cannot start), `exited` when it ends,
 * `stop()` deletes it within a bound.
 *
 * A pod that ended (the agent's idle shutdown, a crash, an eviction) is deleted at once
 * (grace 0, it runs nothing any more), as Docker's AutoRemove does, so no finished pods pile up.
 */
import { type BootedRunner, FlameError, type RunnerExit } from "@flame-ts/pool-core";
import type { V1Pod } from "@kubernetes/client-node";
import { apiStatus } from "./api-errors.js";
import type { Cluster } from "./cluster.js";
import { type PodFacts, podFacts, podMeta } from "./pod-status.js";
import { withRetries } from "./retry.js";

/** After a forced delete, how long `stop()` waits to see the pod go before it asks the API. */
const FORCED_DELETE_CONFIRM_MS = 5_000;
/** How long a delete is tried again while the API server answers 409/429/5xx or not at all. */
const DELETE_RETRY_MS = 10_000;

export interface PodRunnerSettings {
  readonly unschedulableTimeoutMs: number;
  readonly stopGracePeriodSeconds: number;
  readonly stopTimeoutMs: number;
}

export class PodRunner implements BootedRunner {
  readonly meta: Record<string, string>;
  readonly exited: Promise<RunnerExit>;
  readonly name: string;
  readonly #cluster: Cluster;
  readonly #settings: PodRunnerSettings;
  readonly #secretName: string;
  readonly #unfollow: () => void;
  #settleExit!: (exit: RunnerExit) => void;
  #exit: RunnerExit | null = null;
  #gone = false;
  #onGone: Array<() => void> = [];
  #startWaiter: { resolve: () => void; reject: (error: FlameError) => void } | null = null;
  #startOutcome: { ok: true } | { ok: false; error: FlameError } | null = null;
  #unschedulableTimer: NodeJS.Timeout | null = null;
  #stopRequested = false;
  #stopping: Promise<void> | null = null;
  #deleting = false;

  constructor(cluster: Cluster, pod: V1Pod, secretName: string, settings: PodRunnerSettings) {
    this.#cluster = cluster;
    this.#settings = settings;
    this.#secretName = secretName;
    this.name = pod.metadata?.name ?? "";
    this.meta = podMeta(pod);
    this.exited = new Promise((resolve) => {
      this.#settleExit = resolve;
    });
    this.#unfollow = cluster.watch.follow(this.name, (p) => this.#observe(p));
  }

  /** Resolves once the runner container runs (or already ended: `exited` then says why). */
  started(signal: AbortSignal): Promise<void> {
    if (this.#startOutcome !== null) {
      return this.#startOutcome.ok ? Promise.resolve() : Promise.reject(this.#startOutcome.error);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#startWaiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
    });
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    this.#clearUnschedulable();
    if (this.#exit === null) {
      // The pool asked the agent to drain already: this is the end of a graceful shutdown.
      await this.#delete(this.#settings.stopGracePeriodSeconds);
      await this.#within(this.exited, this.#settings.stopTimeoutMs);
    }
    // Ended, or stuck terminating past the bound (a node that stopped answering): force it.
    await this.#delete(0);
    if (!this.#gone) {
      await this.#within(new Promise<void>((r) => this.#onGone.push(r)), FORCED_DELETE_CONFIRM_MS);
    }
    if (!this.#gone) await this.#confirmGone();
    this.#end({ code: null, reason: "pod force-deleted by the pool after stopTimeoutMs" });
    await this.deleteSecret();
    this.#unfollow();
  }

  /** The Secret's one reader is the kubelet, when it starts the container: delete it then. */
  async deleteSecret(): Promise<void> {
    try {
      await this.#cluster.core.deleteNamespacedSecret({
        name: this.#secretName,
        namespace: this.#cluster.namespace,
      });
    } catch {
      // 404: gone already. Anything else: its pod owns it, so the garbage collector removes it.
    }
  }

  #observe(pod: V1Pod | null): void {
    if (pod === null) {
      this.#markGone();
      this.#failStart(
        new FlameError(
          "BOOT_FAILED",
          `runner pod ${this.name} was deleted before its container started`,
        ),
      );
      this.#end({
        code: null,
        reason: this.#stopRequested
          ? "pod deleted by the pool"
          : "pod deleted (by someone else, or with its owner)",
      });
      if (this.#stopping === null) this.#unfollow();
      return;
    }
    Object.assign(this.meta, podMeta(pod));
    this.#act(podFacts(pod));
  }

  #act(facts: PodFacts): void {
    switch (facts.kind) {
      case "pending":
        if (facts.unschedulable === null) this.#clearUnschedulable();
        else this.#unschedulableTimer ??= this.#unschedulableDeadline(facts.unschedulable);
        return;
      case "cannotStart":
        this.#failStart(
          new FlameError(
            "BOOT_FAILED",
            `runner pod ${this.name} cannot start: ${facts.reason}: ${facts.message}`,
            {
              permanent: true,
            },
          ),
        );
        return;
      case "running":
        this.#clearUnschedulable();
        this.#succeedStart();
        return;
      case "ended":
        this.#clearUnschedulable();
        this.#succeedStart();
        this.#end({
          code: facts.code,
          reason: this.#stopRequested ? `pod stopped by the pool (${facts.reason})` : facts.reason,
        });
        void this.#delete(0);
        return;
    }
  }

  #unschedulableDeadline(message: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#failStart(
        new FlameError(
          "BOOT_FAILED",
          `runner pod ${this.name} stayed unschedulable for ${this.#settings.unschedulableTimeoutMs} ms: ${message}. Lower its resources, add capacity, or raise unschedulableTimeoutMs.`,
          { permanent: true },
        ),
      );
    }, this.#settings.unschedulableTimeoutMs);
    timer.unref();
    return timer;
  }

  #clearUnschedulable(): void {
    if (this.#unschedulableTimer !== null) clearTimeout(this.#unschedulableTimer);
    this.#unschedulableTimer = null;
  }

  #succeedStart(): void {
    if (this.#startOutcome !== null) return;
    this.#startOutcome = { ok: true };
    this.#startWaiter?.resolve();
  }

  #failStart(error: FlameError): void {
    if (this.#startOutcome !== null) return;
    this.#startOutcome = { ok: false, error };
    this.#startWaiter?.reject(error);
  }

  #end(exit: RunnerExit): void {
    if (this.#exit !== null) return;
    this.#exit = exit;
    this.#settleExit(exit);
  }

  /** Deletes the pod, trying again while the API server is busy, for up to DELETE_RETRY_MS. */
  async #delete(gracePeriodSeconds: number): Promise<void> {
    if (this.#gone || (gracePeriodSeconds === 0 && this.#deleting)) return;
    if (gracePeriodSeconds === 0) this.#deleting = true;
    try {
      await withRetries(
        () =>
          this.#cluster.core.deleteNamespacedPod({
            name: this.name,
            namespace: this.#cluster.namespace,
            gracePeriodSeconds,
          }),
        AbortSignal.timeout(DELETE_RETRY_MS),
      );
    } catch (error) {
      if (apiStatus(error) === 404) this.#markGone();
      // Otherwise the bounded waits of stop() decide; the pod stays labelled for the reaper.
    }
  }

  /** The watch may have missed the end (broken while the pod went): ask the API once. */
  async #confirmGone(): Promise<void> {
    try {
      await this.#cluster.core.readNamespacedPod({
        name: this.name,
        namespace: this.#cluster.namespace,
      });
    } catch (error) {
      if (apiStatus(error) === 404) this.#markGone();
    }
  }

  #markGone(): void {
    this.#gone = true;
    for (const resolve of this.#onGone.splice(0)) resolve();
  }

  async #within(promise: Promise<unknown>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }
}
