/**
 * One watch of a backend's runner pods, shared by every boot and runner of that backend:
 * `@kubernetes/client-node`'s informer (a list, then a watch from its resourceVersion; a
 * watch the server ends is resumed from the last version seen, and a "410 Gone" relists).
 * What the informer leaves to its user is done here: after an error (a reset connection, an
 * API server restart) it is started again with a backoff, and each pod's followers are told
 * its latest state after every relist. Nothing here polls.
 *
 * Followers subscribe by pod name. A pod's first events may arrive before `create` returns
 * its name, so `follow` hands the follower the cached object at once if there is one.
 */
import {
  type CoreV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1Pod,
} from "@kubernetes/client-node";
import { apiMessage, apiStatus } from "./api-errors.js";

/** `pod` is null once the pod is gone from the API. */
export type PodListener = (pod: V1Pod | null) => void;

const RESTART_FIRST_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 5_000;

export class PodWatch {
  readonly #informer: Informer<V1Pod> & ObjectCache<V1Pod>;
  readonly #namespace: string;
  readonly #listeners = new Map<string, Set<PodListener>>();
  #starting: Promise<void> | null = null;
  #running = false;
  #lastError: unknown = null;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | null = null;
  /** Watch errors, for the backend's log (the boot that waits reports its own timeout). */
  onTrouble: (message: string) => void = () => {};

  constructor(kubeConfig: KubeConfig, core: CoreV1Api, namespace: string, labelSelector: string) {
    this.#namespace = namespace;
    this.#informer = makeInformer(
      kubeConfig,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
    );
    const deliver = (pod: V1Pod) => this.#deliver(pod.metadata?.name, pod);
    this.#informer.on("add", deliver);
    this.#informer.on("update", deliver);
    this.#informer.on("delete", (pod) => this.#deliver(pod.metadata?.name, null));
    this.#informer.on("error", (error: unknown) => this.#failed(error));
  }

  /**
   * Resolves once the watch is listed and watching. Rejects with the API's error when that
   * fails at once (a 403 names the missing verb), so a boot reports it instead of waiting.
   */
  ensureStarted(): Promise<void> {
    if (this.#running) return Promise.resolve();
    this.#starting ??= this.#start().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  /** Follows one pod by name: the listener gets every change, then null once it is gone. */
  follow(name: string, listener: PodListener): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    const cached = this.#informer.get(name, this.#namespace);
    if (cached !== undefined) listener(cached);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(name);
      if (this.#listeners.size === 0) this.#idle();
    };
  }

  /** Stops the watch (no pod followed). The next boot starts it again. */
  stop(): void {
    this.#running = false;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    void this.#informer.stop();
  }

  async #start(): Promise<void> {
    this.#lastError = null;
    await this.#informer.start();
    if (this.#lastError !== null) {
      const error = this.#lastError;
      void this.#informer.stop();
      throw watchRefusal(error, this.#namespace);
    }
    this.#running = true;
    this.#failures = 0;
    this.#resync();
  }

  #deliver(name: string | undefined, pod: V1Pod | null): void {
    if (name === undefined) return;
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) listener(pod);
  }

  /** After a (re)start: what the fresh list says about every followed pod. */
  #resync(): void {
    for (const name of [...this.#listeners.keys()]) {
      this.#deliver(name, this.#informer.get(name, this.#namespace) ?? null);
    }
  }

  #failed(error: unknown): void {
    this.#lastError = error;
    if (this.#starting !== null) return; // the start under way reports it
    this.#running = false;
    this.#scheduleRestart(error);
  }

  #scheduleRestart(error: unknown): void {
    if (this.#restartTimer !== null || this.#listeners.size === 0) return;
    this.#failures++;
    const delayMs = Math.min(
      RESTART_FIRST_DELAY_MS * 2 ** (this.#failures - 1),
      RESTART_MAX_DELAY_MS,
    );
    this.onTrouble(`pod watch failed (${apiMessage(error)}); watching again in ${delayMs} ms`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#listeners.size === 0) return;
      this.ensureStarted().catch((again: unknown) => this.#scheduleRestart(again));
    }, delayMs);
    this.#restartTimer.unref();
  }

  #idle(): void {
    if (this.#starting === null) this.stop();
  }
}

/**
 * A refused list keeps Kubernetes' own message (it names the verb); a refused watch comes back
 * as a bare HTTP status from the watch request, so say which verb on what was refused.
 */
function watchRefusal(error: unknown, namespace: string): unknown {
  const status = apiStatus(error);
  if (status === null || (error as { body?: unknown }).body !== undefined) return error;
  return Object.assign(
    new Error(
      `cannot watch pods in the namespace "${namespace}" (HTTP ${status} ${apiMessage(error)})`,
    ),
    { code: status },
  );
}
